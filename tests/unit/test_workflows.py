"""The GitHub workflows, branch protection and deployment files against the code.

Every ``run:`` step calls a nox target that exists or a script in this
repository; every job is least-privilege and bounded in time; every action is
pinned by commit; the required checks name real jobs; the cross-platform
matrix covers every supported distribution and architecture; the container
and Kubernetes capability lists are the ones bee-trace measures it needs.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bee_trace.host.checks import REQUIRED_CAPABILITIES

ROOT = Path(__file__).parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
EXPRESSION = re.compile(r"\$\{\{\s*matrix\.(\w+)\s*\}\}")

# the distributions and architectures bee-trace is built and unit-tested on
DISTRIBUTIONS = {
    "ubuntu:20.04",
    "ubuntu:22.04",
    "ubuntu:24.04",
    "registry.access.redhat.com/ubi8/ubi:8.10",
    "registry.access.redhat.com/ubi9/ubi:9.5",
    "alpine:3.19",
    "amazonlinux:2023",
}
ARCHITECTURES = {"amd64", "arm64"}
PROBES = {"file_monitor", "network_monitor", "memory_monitor", "all"}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    # YAML 1.1 reads the key "on" as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(p.name, job_id, job) for p in WORKFLOWS for job_id, job in _load(p)["jobs"].items()]


def _steps() -> list[tuple[str, str, dict[str, Any]]]:
    return [(wf, job_id, step) for wf, job_id, job in _jobs() for step in job.get("steps", [])]


def nox_sessions() -> set[str]:
    """Session names declared in noxfile.py (``@nox.session`` or ``name=``)."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if ast.unparse(target) != "nox.session":
                continue
            name = node.name
            if isinstance(deco, ast.Call):
                for kw in deco.keywords:
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                        name = str(kw.value.value)
            names.add(name)
    return names


def command_lines(script: str) -> list[list[str]]:
    """The argv of each command in a ``run:`` script (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", script)
    lines = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lines.append(shlex.split(stripped, comments=True))
    return lines


def _without_sudo(argv: list[str]) -> list[str]:
    if argv and argv[0] == "sudo":
        argv = argv[1:]
        while argv and argv[0].startswith("-"):
            argv = argv[1:]
    return argv


def called_targets(argv: list[str]) -> tuple[list[str], list[str]]:
    """(nox sessions, repository scripts) that one command line calls."""
    argv = _without_sudo(argv)
    if not argv:
        return [], []
    if argv[0].endswith("/nox") or argv[0] == "nox":
        sessions: list[str] = []
        args = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
        taking = False
        for arg in args:
            if arg in {"-s", "--session", "--sessions"}:
                taking = True
            elif arg.startswith("-"):
                taking = False
            elif taking:
                sessions.append(arg)
        return sessions, []
    if argv[0] in {"bash", "sh", "python", "python3"} or argv[0].endswith("/python"):
        return [], argv[1:2]
    return [], [argv[0]]


def test_every_workflow_is_found() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"action.yml", "cross-platform.yml", "performance.yml", "release.yml"} <= names


def test_command_lines_follow_sudo_and_posargs() -> None:
    argv = command_lines('sudo --preserve-env=CI .venv/bin/nox -s test -- -m kernel -k "$S"\n')
    assert argv == [
        [
            "sudo",
            "--preserve-env=CI",
            ".venv/bin/nox",
            "-s",
            "test",
            "--",
            "-m",
            "kernel",
            "-k",
            "$S",
        ]
    ]
    assert called_targets(argv[0]) == (["test"], [])
    assert called_targets([".venv/bin/nox", "-s", "a", "b"]) == (["a", "b"], [])
    assert called_targets(["bash", "scripts/x.sh", "y"]) == ([], ["scripts/x.sh"])


@pytest.mark.parametrize(
    ("wf", "job_id", "step"),
    [s for s in _steps() if "run" in s[2]],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_run_step_calls_a_nox_target_or_a_repository_script(
    wf: str, job_id: str, step: dict[str, Any]
) -> None:
    sessions = nox_sessions()
    lines = command_lines(step["run"])
    assert lines, f"{wf}: {job_id}: empty run step"
    for argv in lines:
        targets, scripts = called_targets(argv)
        assert targets or scripts, f"{wf}: {job_id}: {shlex.join(argv)} calls nothing"
        for target in targets:
            assert target in sessions, f"{wf}: {job_id}: nox has no session {target!r}"
        for script in scripts:
            assert (ROOT / script).is_file(), f"{wf}: {job_id}: no script {script} in the repo"


@pytest.mark.parametrize(
    ("wf", "job_id", "job"), _jobs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_job_has_permissions_and_a_timeout(wf: str, job_id: str, job: dict[str, Any]) -> None:
    assert "permissions" in job, f"{wf}: job {job_id} sets no permissions"
    assert isinstance(job.get("timeout-minutes"), int), f"{wf}: job {job_id} has no timeout"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_defaults_to_no_permissions_and_cancels_superseded_runs(path: Path) -> None:
    data = _load(path)
    assert data.get("permissions") == {}, f"{path.name}: top-level permissions should be {{}}"
    concurrency = data.get("concurrency", {})
    assert "github.ref" in concurrency.get("group", ""), f"{path.name}: no concurrency group"
    # a release is the one run not cancelled half-way
    assert concurrency.get("cancel-in-progress") is (path.name != "release.yml")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path) -> None:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if m is None:
            continue
        assert PINNED.match(m[1]), f"{path.name}:{n}: {m[1]} is not pinned by full commit SHA"
        assert re.search(r"#\s*v?\d", m[2]), f"{path.name}:{n}: no '# vX.Y.Z' beside the SHA"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_failure_is_ignored_without_a_reason(path: Path) -> None:
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines):
        if "continue-on-error" in line or "|| true" in line:
            before = lines[n - 1].strip() if n else ""
            assert "#" in line or before.startswith("#"), (
                f"{path.name}:{n + 1}: failure ignored without a comment saying why"
            )


def _matrix_names(job_id: str, job: dict[str, Any]) -> set[str]:
    """Every check name a job reports: its name with each matrix entry filled in."""
    name = str(job.get("name", job_id))
    matrix = job.get("strategy", {}).get("matrix")
    if not matrix:
        return {name}
    axes = {k: v for k, v in matrix.items() if k not in {"include", "exclude"}}
    combos: list[dict[str, Any]] = (
        [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
        if axes
        else []
    )
    # as GitHub does: an include entry extends the original combinations whose
    # axis values it does not change, or else becomes a combination of its own
    originals = list(combos)
    for extra in matrix.get("include", []):
        matching = [c for c in originals if all(c[k] == v for k, v in extra.items() if k in axes)]
        for combo in matching:
            combo.update(extra)
        if not matching:
            combos.append(dict(extra))
    return {_fill(name, combo) for combo in combos}


def _fill(name: str, combo: dict[str, Any]) -> str:
    """A job name with its ``${{ matrix.X }}`` expressions replaced by one combination."""
    return EXPRESSION.sub(lambda m: str(combo.get(m[1], "")), name)


def test_every_required_check_is_a_job_of_a_workflow() -> None:
    protection = json.loads((ROOT / ".github" / "branch-protection.json").read_text())
    checks = protection["protection"]["required_status_checks"]["checks"]
    reported = {n for _, job_id, job in _jobs() for n in _matrix_names(job_id, job)}
    unknown = [c["context"] for c in checks if c["context"] not in reported]
    assert not unknown, f"required checks no workflow reports: {unknown}; jobs: {sorted(reported)}"


def test_matrix_names_expand_include_entries() -> None:
    job = {
        "name": "k (${{ matrix.probe }})",
        "strategy": {"matrix": {"include": [{"probe": "a"}, {"probe": "b"}]}},
    }
    assert _matrix_names("k", job) == {"k (a)", "k (b)"}


def test_the_kernel_tests_run_once_per_probe_each_with_its_own_selection() -> None:
    job = _load(WORKFLOW_DIR / "action.yml")["jobs"]["kernel-tests"]
    entries = job["strategy"]["matrix"]["include"]
    assert {e["probe"] for e in entries} == PROBES
    selections = [e["select"] for e in entries]
    assert len(set(selections)) == len(selections), "two probes select the same tests"
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "-m kernel" in runs
    assert '-k "$SELECT"' in runs


def test_the_cross_platform_matrix_lists_every_distribution_and_architecture() -> None:
    job = _load(WORKFLOW_DIR / "cross-platform.yml")["jobs"]["distro"]
    matrix = job["strategy"]["matrix"]
    assert set(matrix["arch"]) == ARCHITECTURES
    bases = {e["distro"]: e["base"] for e in matrix["include"]}
    assert set(matrix["distro"]) == set(bases), "a distribution without its base image"
    assert set(bases.values()) == DISTRIBUTIONS


def test_the_bake_file_builds_the_same_distributions_on_both_platforms() -> None:
    hcl = (ROOT / "docker-bake.hcl").read_text()
    assert set(re.findall(r'base = "([^"]+)"', hcl)) == DISTRIBUTIONS
    assert 'platforms = ["linux/amd64", "linux/arm64"]' in hcl
    assert '"type=sbom"' in hcl
    assert '"type=provenance' in hcl


def _capabilities_every_probe_needs() -> set[str]:
    return {
        c.name.removeprefix("CAP_") for c in REQUIRED_CAPABILITIES if c.needed_for == "every probe"
    }


def test_the_daemonset_adds_exactly_the_capabilities_bee_trace_needs() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/daemonset.yaml").read_text()))
    spec = docs[0]["spec"]["template"]["spec"]
    assert spec["hostPID"] is True
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["privileged"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    assert set(context["capabilities"]["add"]) == _capabilities_every_probe_needs()
    assert {"requests", "limits"} <= set(container["resources"])


def test_the_docker_run_line_adds_the_same_capabilities() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "--privileged" not in text.replace("not --privileged", "")
    assert set(re.findall(r"--cap-add=(\w+)", text)) == _capabilities_every_probe_needs()


def test_the_configmap_holds_the_default_policy_verbatim() -> None:
    configmap = yaml.safe_load((ROOT / "deploy/kubernetes/configmap.yaml").read_text())
    policy = (ROOT / ".github" / "security.yml").read_text()
    assert configmap["data"]["security.yml"] == policy


@pytest.mark.parametrize(
    "path", sorted((ROOT / "deploy/kubernetes").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_manifest_is_in_the_bee_trace_namespace(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        meta = doc["metadata"]
        assert meta.get("namespace", meta["name"]) == "bee-trace", f"{path.name}: {meta}"
