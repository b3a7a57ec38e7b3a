"""The task runner: one session per gate, the same locally, in hooks and in CI.

Sessions run in the current environment (the project's ``.venv``, set up by
``scripts/bootstrap.sh``), so every tool is the version pinned in
``requirements/dev.lock``. Every gate fails the run when it fails; none only
warns.

    nox -s fast        format, lint, typecheck, unit tests: for small changes
    nox -s all         every gate, as CI runs them
    nox -s format -- --fix   rewrite instead of checking
    nox -s bench       the performance suite and its regression gates
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nox

# run the tools of the environment nox itself runs in (.venv), whatever PATH says
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

nox.options.default_venv_backend = "none"
nox.options.sessions = ["all"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYTHON_PATHS = ["src", "tests", "setup.py", "noxfile.py", "scripts", "benchmarks", "tools"]
# names for vulture to treat as used, not a module: neither linted nor typechecked
NOT_MODULES = ["tools/vulture_allowlist.py"]
_RUFF_EXCLUDE = [f"--extend-exclude={path}" for path in NOT_MODULES]
C_SOURCES = sorted(str(p) for p in (ROOT / "src/bee_trace/kernel").glob("*.[ch]"))
SHELL_SCRIPTS = [
    "scripts/bootstrap.sh",
    "scripts/install-deps.sh",
    "scripts/ci-setup.sh",
    ".ci/run",
]
REPORTS = ROOT / "reports"

# loading and attaching programs, the ring-buffer consumer, decoding, filtering
CRITICAL_PATHS = [
    "src/bee_trace/bpf/*",
    "src/bee_trace/runtime.py",
    "src/bee_trace/events/records.py",
    "src/bee_trace/probes/*",
    "src/bee_trace/policy/patterns.py",
]
COVERAGE_TOTAL_MIN = 80
COVERAGE_DIFF_MIN = 90
COVERAGE_CRITICAL_MIN = 95
DOCSTRING_MIN = 90


def _install(session: nox.Session) -> None:
    """Reinstall bee-trace from this tree: the tests import the installed package."""
    session.run(
        "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--no-build-isolation", "--force-reinstall", ".",
    )  # fmt: skip


@nox.session
def format(session: nox.Session) -> None:  # noqa: A001 - the gate's name
    """Python (ruff format) and kernel C (clang-format) formatting."""
    if "--fix" in session.posargs:
        session.run("ruff", "format", *_RUFF_EXCLUDE, *PYTHON_PATHS)
        session.run("ruff", "check", "--fix-only", "--quiet", *_RUFF_EXCLUDE, *PYTHON_PATHS)
        session.run("clang-format", "-i", *C_SOURCES, external=True)
        return
    session.run("ruff", "format", "--check", *_RUFF_EXCLUDE, *PYTHON_PATHS)
    session.run("clang-format", "--dry-run", "--Werror", *C_SOURCES, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (strict), shellcheck, dead code (vulture), dependencies (deptry)."""
    session.run("ruff", "check", *_RUFF_EXCLUDE, *PYTHON_PATHS)
    session.run("shellcheck", *SHELL_SCRIPTS, external=True)
    session.run("vulture", "src", "tests", "tools/vulture_allowlist.py", "--min-confidence", "60")
    session.run("deptry", "src")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the tooling."""
    excluded = [f"--exclude=^{path}$" for path in NOT_MODULES]
    session.run(
        "mypy", "--strict", *excluded,
        "src", "tests", "noxfile.py", "setup.py", "scripts", "benchmarks", "tools",
    )  # fmt: skip


@nox.session
def docs(session: nox.Session) -> None:
    """User docs build with warnings as errors; docstring coverage; docs match code."""
    session.run("mkdocs", "build", "--strict", "--quiet")
    session.run("interrogate", "--fail-under", str(DOCSTRING_MIN), "-v", "src")
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "tests/unit/test_docs_cli.py", "tests/unit/test_policy_loader.py",
    )  # fmt: skip


@nox.session
def test(session: nox.Session) -> None:
    """The whole test suite: unit tests and tests on the real kernel."""
    _install(session)
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)


def _diff_base(session: nox.Session) -> str:
    """The branch changes are measured against: origin/main, else main."""
    if base := os.environ.get("BEE_TRACE_DIFF_BASE"):
        return base
    for ref in ("origin/main", "main"):
        found = session.run(
            "git", "rev-parse", "--verify", "--quiet", ref,
            external=True, silent=True, success_codes=[0, 1],
        )  # fmt: skip
        if found:
            return ref
    session.error("no main branch to measure diff coverage against (set BEE_TRACE_DIFF_BASE)")
    return ""  # unreachable: session.error raises


@nox.session
def coverage(session: nox.Session) -> None:
    """Tests under branch coverage, with three gates: total, diff, critical paths."""
    _install(session)
    REPORTS.mkdir(exist_ok=True)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "xml", "-o", str(REPORTS / "coverage.xml"), "--quiet")
    session.run("coverage", "html", "-d", str(REPORTS / "htmlcov"), "--quiet")
    session.log(f"gate: total branch coverage at least {COVERAGE_TOTAL_MIN}%")
    session.run("coverage", "report", "--fail-under", str(COVERAGE_TOTAL_MIN))
    session.log(f"gate: critical paths at least {COVERAGE_CRITICAL_MIN}%")
    session.run(
        "coverage", "report", "--fail-under", str(COVERAGE_CRITICAL_MIN),
        "--include", ",".join(CRITICAL_PATHS), "--show-missing",
    )  # fmt: skip
    base = _diff_base(session)
    session.log(f"gate: lines changed against {base} at least {COVERAGE_DIFF_MIN}%")
    session.run(
        "diff-cover", str(REPORTS / "coverage.xml"), f"--compare-branch={base}",
        f"--fail-under={COVERAGE_DIFF_MIN}", "--format", f"html:{REPORTS / 'diff-coverage.html'}",
    )  # fmt: skip


@nox.session
def build(session: nox.Session) -> None:
    """Build the wheel (the BPF objects are compiled by its build step)."""
    session.run(
        "python", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--wheel-dir", "dist", ".",
    )  # fmt: skip


@nox.session(name="ebpf-validate")
def ebpf_validate(session: nox.Session) -> None:
    """Verifier budgets, bytecode audit, least privilege, resource limits, kernel matrix.

    As root. Writes reports/ebpf/; ``-- --skip privileges`` and the like leave
    parts of the first four out. The kernel matrix keeps its downloads in
    BEE_TRACE_KERNEL_CACHE (default /var/cache/bee-trace/kernel-matrix), so a
    second run on the same machine downloads nothing.
    """
    _install(session)
    session.run("python", "-m", "tools.ebpf_validate", *session.posargs)
    session.run(
        "python", "-m", "tools.kernel_matrix", "--install", "--cache", _kernel_cache(),
    )  # fmt: skip


def _kernel_cache() -> str:
    return os.environ.get("BEE_TRACE_KERNEL_CACHE", "/var/cache/bee-trace/kernel-matrix")


@nox.session(name="kernel-matrix")
def kernel_matrix(session: nox.Session) -> None:
    """Every probe smoke-tested on real kernels booted in QEMU (docs/kernel-matrix.md); root.

    Installs what it needs with apt; writes reports/ebpf/kernel-matrix.{json,md}.
    ``-- --only 6.12``, ``-- --no-host`` and the like pass through.
    """
    _install(session)
    session.run("python", "-m", "tools.kernel_matrix", "--install", *session.posargs)


@nox.session
def fast(session: nox.Session) -> None:
    """For small changes: format, lint, typecheck and the unit tests."""
    session.notify("format")
    session.notify("lint")
    session.notify("typecheck")
    _install(session)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit")


@nox.session
def bench(session: nox.Session) -> None:
    """The performance suite and its gates (docs/benchmarks.md); needs root.

    ``-- --short`` for CI (same gates, fewer rounds); ``-- --update-baseline``
    accepts the figures into benchmarks/baseline.json and benchmarks/history.jsonl.
    """
    _install(session)
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(name="all")
def all_gates(session: nox.Session) -> None:
    """Every gate, as CI runs them; the tests run once, under coverage."""
    for name in ("format", "lint", "typecheck", "docs"):
        session.notify(name)
    session.notify("coverage", posargs=session.posargs)


WORKFLOWS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github/workflows").glob("*.yml"))
DOCKERFILES = [
    "Dockerfile",
    *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("docker/Dockerfile.*")),
]


@nox.session(name="ci-lint")
def ci_lint(session: nox.Session) -> None:
    """GitHub workflows, Dockerfiles and the deployment files, checked offline.

    actionlint, zizmor (offline) and the vendored workflow schema on every
    workflow; hadolint on every Dockerfile; then the tests that tie workflows,
    branch protection and manifests to the code (tests/unit/test_workflows.py).
    """
    session.run("actionlint", *WORKFLOWS)
    session.run("zizmor", "--offline", "--min-severity", "low", *WORKFLOWS)
    session.run(
        "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS,
    )  # fmt: skip
    session.run("hadolint", *DOCKERFILES)
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_workflows.py",
    )  # fmt: skip


@nox.session
def release(session: nox.Session) -> None:
    """Release artifacts in dist/: wheel, sdist, tarball, changelog, SHA256SUMS.

    ``-- VERSION`` heads the changelog (default: the version in pyproject.toml).
    """
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    # stale build output only; build/ also holds the docs site and other reports
    for stale in (*ROOT.glob("build/lib*"), *ROOT.glob("build/bdist*")):
        shutil.rmtree(stale, ignore_errors=True)
    session.run(
        "python", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--wheel-dir", str(dist), ".",
    )  # fmt: skip
    session.run("python", "-m", "build", "--sdist", "--no-isolation", "--outdir", str(dist), ".")
    session.run("python", "scripts/release.py", "bundle", str(dist))
    version = session.posargs[0] if session.posargs else _project_version()
    session.run(
        "python", "scripts/changelog.py", "--version", version,
        "--output", str(dist / "CHANGELOG.md"),
    )  # fmt: skip
    session.run("python", "scripts/release.py", "checksums", str(dist))


def _project_version() -> str:
    """The version in pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


# --- security (docs/security.md): every local scan, then the dependency audit ---
SECURITY_REPORTS = REPORTS / "security"
# tools/security/run_audit.py: the service did not answer, so nothing was audited
AUDIT_NOT_RUN = 3


def _security_files(pattern: str) -> list[str]:
    """Files of the tree matching ``pattern``, outside the venv and build output."""
    skip = {".venv", "build", "dist", ".git", "node_modules"}
    return sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.glob(pattern)
        if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)
    )


@nox.session
def security(session: nox.Session) -> None:
    """Bandit rules, semgrep, clang's analyzer, workflows, Dockerfiles, licences, SBOM, audit.

    Exits 1 on any finding, and 3 when every local scan passed but the
    dependency audit could not reach its vulnerability service (not run).
    """
    SECURITY_REPORTS.mkdir(parents=True, exist_ok=True)
    code_paths = [path for path in PYTHON_PATHS if path != "tests"]

    session.log("scan: ruff's bandit rules (S), every exception justified on its line")
    session.run("ruff", "check", "--select", "S", *_RUFF_EXCLUDE, *PYTHON_PATHS)
    session.log("scan: semgrep, bee-trace's own rules only, offline")
    session.run(
        "semgrep", "scan", "--config", "tools/security/semgrep.yml", "--metrics=off",
        "--disable-version-check", "--error", "--quiet", *code_paths,
        env={"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"},
    )  # fmt: skip
    session.log("scan: kernel programs, clang --analyze")
    session.run("python", "-m", "tools.security.analyze_c")

    workflows = _security_files(".github/workflows/*.y*ml")
    session.log(f"scan: {len(workflows)} workflows: pins, actionlint, zizmor (offline)")
    if workflows:
        session.run("python", "-m", "tools.security.pins", *workflows)
        session.run("actionlint", *workflows)
        session.run(
            "zizmor", "--offline", "--min-severity", "low", "--no-progress",
            "--config", "tools/security/zizmor.yml", *workflows,
        )  # fmt: skip
    dockerfiles = [*_security_files("**/Dockerfile"), *_security_files("**/Dockerfile.*")]
    session.log(f"scan: {len(dockerfiles)} Dockerfiles, hadolint")
    if dockerfiles:
        session.run("hadolint", *dockerfiles)

    session.log("supply chain: licences of every locked dependency")
    session.run("python", "-m", "tools.security.licenses")
    session.log(f"supply chain: CycloneDX SBOM in {SECURITY_REPORTS / 'sbom.json'}")
    session.run(
        "cyclonedx-py", "environment", "--pyproject", "pyproject.toml", "--output-reproducible",
        "--validate", "--of", "JSON", "-o", str(SECURITY_REPORTS / "sbom.json"), sys.executable,
    )  # fmt: skip

    # last, so exit 3 means: everything local passed, only the audit did not run
    session.log("supply chain: known vulnerabilities in the locked set (pip-audit)")
    # subprocess, not session.run: the exit code itself is the result
    audit = subprocess.run(
        [sys.executable, "-m", "tools.security.run_audit"], check=False, cwd=ROOT
    )
    if audit.returncode == AUDIT_NOT_RUN:
        session.warn("not audited: service unreachable; every other scan passed (exit 3)")
        raise SystemExit(AUDIT_NOT_RUN)
    if audit.returncode != 0:
        session.error(f"dependency audit failed (exit {audit.returncode})")
