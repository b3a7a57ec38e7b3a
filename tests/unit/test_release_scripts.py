"""scripts/changelog.py, scripts/release.py and scripts/apply-branch-protection.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import ModuleType

SCRIPTS = Path(__file__).parents[2] / "scripts"


def _module(filename: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        filename.replace("-", "_")[:-3], SCRIPTS / filename
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up by name
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


changelog = _module("changelog.py")
release = _module("release.py")
protection = _module("apply-branch-protection.py")


@pytest.mark.parametrize(
    ("message", "type_", "scope", "subject", "breaking"),
    [
        ("feat(file): watch openat2", "feat", "file", "watch openat2", False),
        ("fix: count drops", "fix", None, "count drops", False),
        ("ci(workflows)!: drop the old runner", "ci", "workflows", "drop the old runner", True),
        ("refactor: x\n\nBREAKING CHANGE: y", "refactor", None, "x", True),
        ("Merge branch 'main'", None, None, "Merge branch 'main'", False),
    ],
)
def test_parse_splits_a_conventional_commit(
    message: str,
    type_: str | None,
    scope: str | None,
    subject: str,
    breaking: bool,  # noqa: FBT001
) -> None:
    commit = changelog.parse("a" * 40, message)
    assert (commit.type, commit.scope, commit.subject, commit.breaking) == (
        type_, scope, subject, breaking,
    )  # fmt: skip


def test_render_groups_by_type_breaking_first_other_last() -> None:
    commits = [
        changelog.parse("1" * 40, "fix(net): b"),
        changelog.parse("2" * 40, "feat!: a"),
        changelog.parse("3" * 40, "wip"),
        changelog.parse("4" * 40, "docs: c"),
    ]
    text = changelog.render(commits, "1.0.0", dt.date(2026, 1, 2))
    assert text.splitlines()[0] == "## 1.0.0 (2026-01-02)"
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == [
        "### Breaking changes", "### Features", "### Fixes", "### Documentation", "### Other",
    ]  # fmt: skip
    assert "- **net:** b (1111111)" in text


def test_render_says_so_when_nothing_changed() -> None:
    assert "No changes." in changelog.render([], "1.0.0", dt.date(2026, 1, 2))


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


def test_changelog_covers_the_commits_since_the_previous_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    for message, tag in [
        ("feat: old", "v0.9.0"),
        ("fix(file): new fix", None),
        ("feat(net): new feature", "v0.10.0"),
    ]:
        _git(tmp_path, "commit", "-q", "--allow-empty", "-m", message)
        if tag:
            _git(tmp_path, "tag", tag)
    # v0.10.0 points at HEAD: the previous tag is v0.9.0 (by version, not as text)
    assert changelog.previous_tag("HEAD", tmp_path) == "v0.9.0"
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "CHANGELOG.md"
    assert changelog.main(["--version", "0.10.0", "-o", str(out)]) == 0
    text = out.read_text()
    assert "new fix" in text
    assert "new feature" in text
    assert "old" not in text


def test_changelog_reports_a_git_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert changelog.main(["--since", "nope", "--until", "nope"]) == 1


def _wheel(dist: Path, names: list[str]) -> Path:
    wheel = dist / "bee_trace-0.1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name in names:
            z.writestr(name, b"x")
    return wheel


def test_bundle_checks_the_wheel_then_packs_readme_docs_and_policy(tmp_path: Path) -> None:
    objects = [f"bee_trace/kernel/{n}.bpf.o" for n in release.KERNEL_OBJECTS]
    _wheel(tmp_path, [*objects, "bee_trace/security.yml"])
    out = release.bundle(tmp_path)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    top = f"bee-trace-{release.version()}"
    assert f"{top}/README.md" in names
    assert f"{top}/security.yml" in names
    assert any(n.startswith(f"{top}/docs/") for n in names)


def test_bundle_refuses_a_wheel_without_kernel_objects(tmp_path: Path) -> None:
    _wheel(tmp_path, ["bee_trace/security.yml"])
    with pytest.raises(release.ReleaseError, match=r"file_monitor\.bpf\.o"):
        release.bundle(tmp_path)
    assert release.main(["bundle", str(tmp_path / "empty")]) == 1


def test_checksums_are_sha256sum_format_over_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.whl").write_bytes(b"a")
    (tmp_path / "a.whl.sigstore.json").write_text("{}")
    assert release.main(["checksums", str(tmp_path)]) == 0
    text = (tmp_path / "SHA256SUMS").read_text()
    assert text == f"{hashlib.sha256(b'a').hexdigest()}  a.whl\n"


def test_branch_protection_request_is_a_put_with_the_body(tmp_path: Path) -> None:
    branch, body = protection.load()
    request = protection.build_request("o/r", branch, body, "t0ken")
    assert request.get_method() == "PUT"
    assert request.full_url == "https://api.github.com/repos/o/r/branches/main/protection"
    assert json.loads(request.data) == body
    with pytest.raises(ValueError, match="OWNER/NAME"):
        protection.build_request("nope", branch, body, "t")
    config = tmp_path / "p.json"
    config.write_text(json.dumps({"branch": "main", "protection": {}}))
    assert protection.main(["--repo", "o/r", "--config", str(config), "--dry-run"]) == 0


def test_branch_protection_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert protection.main(["--repo", "o/r"]) == 1
