"""The helpers of `nox -s security` (tools/security/): audit verdicts, ignores, pins, licences."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from tools.security import analyze_c, licenses, pins, run_audit
from tools.security.ignores import Ignore, IgnoreFileError, load_ignores, parse_ignores

ROOT = Path(__file__).parents[2]
TOML = Path("audit-ignores.toml")
DAY = dt.date(2027, 3, 31)


# --- ignores ---


def test_committed_ignore_file_loads_and_nothing_has_expired() -> None:
    today = dt.datetime.now(tz=dt.UTC).date()
    ignores = load_ignores(ROOT / "tools/security/audit-ignores.toml")
    assert [i.id for i in ignores if i.expired(today)] == []


def test_ignore_parses() -> None:
    text = '[[ignore]]\nid = "GHSA-1"\nreason = "not reached"\nexpires = 2027-03-31\n'
    assert parse_ignores(text, TOML) == [Ignore("GHSA-1", "not reached", DAY)]


def test_ignore_holds_through_its_expiry_day() -> None:
    ignore = Ignore("GHSA-1", "r", DAY)
    assert not ignore.expired(DAY)
    assert ignore.expired(DAY + dt.timedelta(days=1))


def test_ignore_file_reports_every_problem_at_once() -> None:
    text = (
        '[[ignore]]\nid = ""\nreason = "r"\nexpires = "2027-03-31"\n'
        '[[ignore]]\nid = "X"\nexpires = 2027-03-31T10:00:00\nextra = 1\n'
        '[[ignore]]\nid = "Y"\nreason = "r"\nexpires = 2027-03-31\n'
        '[[ignore]]\nid = "Y"\nreason = "r"\nexpires = 2027-03-31\n'
    )
    with pytest.raises(IgnoreFileError) as caught:
        parse_ignores(text, TOML)
    assert caught.value.problems == [
        "ignore[0]: id: expected a non-empty string, found ''",
        "ignore[0]: expires: expected a date such as 2027-03-31, found '2027-03-31'",
        "ignore[1]: unknown key 'extra' (expected id, reason, expires)",
        "ignore[1]: reason: expected a non-empty string, found None",
        (
            "ignore[1]: expires: expected a date such as 2027-03-31, found "
            "datetime.datetime(2027, 3, 31, 10, 0)"
        ),
        "ignore[3]: id 'Y' is listed twice",
    ]


def test_ignore_file_not_toml() -> None:
    with pytest.raises(IgnoreFileError, match="not valid TOML"):
        parse_ignores("[[ignore]\n", TOML)


# --- the audit verdict ---


def _report(*deps: dict[str, Any]) -> dict[str, object]:
    return {"dependencies": list(deps), "fixes": []}


VULN = {"id": "PYSEC-1", "aliases": ["CVE-1", "GHSA-1"], "fix_versions": ["2.0"]}


def _verdict(report: dict[str, object], ignores: list[Ignore]) -> run_audit.Verdict:
    verdict = run_audit.Verdict()
    run_audit.judge(report, ignores, verdict)
    return verdict


def test_clean_report_passes() -> None:
    verdict = _verdict(_report({"name": "a", "version": "1", "vulns": []}), [])
    assert (verdict.audited, verdict.exit_code()) == (1, run_audit.PASSED)


def test_vulnerability_fails() -> None:
    verdict = _verdict(_report({"name": "a", "version": "1", "vulns": [VULN]}), [])
    assert verdict.exit_code() == run_audit.VULNERABLE
    assert verdict.findings[0].fix_versions == ("2.0",)


def test_ignore_matches_an_alias() -> None:
    ignore = Ignore("GHSA-1", "r", DAY)
    verdict = _verdict(_report({"name": "a", "version": "1", "vulns": [VULN]}), [ignore])
    assert verdict.exit_code() == run_audit.PASSED
    assert [i for _, i in verdict.ignored] == [ignore]


def test_skipped_dependency_is_not_a_pass() -> None:
    # what pip-audit reports, exit 0, when the service has no answer for a release
    skipped = {"name": "a", "skip_reason": "Dependency not found on PyPI"}
    verdict = _verdict(_report(skipped, {"name": "b", "version": "1", "vulns": []}), [])
    assert verdict.exit_code() == run_audit.NOT_AUDITED


def test_vulnerability_outranks_skips() -> None:
    skipped = {"name": "a", "skip_reason": "x"}
    report = _report(skipped, {"name": "b", "version": "1", "vulns": [VULN]})
    assert _verdict(report, []).exit_code() == run_audit.VULNERABLE


def test_report_without_dependencies_is_refused() -> None:
    with pytest.raises(TypeError, match="no dependency list"):
        run_audit.judge({"fixes": []}, [], run_audit.Verdict())


def _fake_pip_audit(
    monkeypatch: pytest.MonkeyPatch, *, report: dict[str, object] | None, stderr: str = ""
) -> None:
    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        if report is not None:
            Path(cmd[cmd.index("--output") + 1]).write_text(json.dumps(report), encoding="utf-8")
        return subprocess.CompletedProcess(cmd, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", fake_run)


def _main(tmp_path: Path, *extra: str) -> int:
    lock = tmp_path / "dev.lock"
    lock.write_text("", encoding="utf-8")
    ignores = tmp_path / "ignores.toml"
    if not ignores.exists():
        ignores.write_text("", encoding="utf-8")
    return run_audit.main([
        "--lock", str(lock), "--ignores", str(ignores), "--report-dir", str(tmp_path),
        "--today", "2027-01-01", *extra,
    ])  # fmt: skip


def test_main_connection_error_is_not_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stderr = "Traceback ...\nrequests.exceptions.ConnectionError: Max retries exceeded\n"
    _fake_pip_audit(monkeypatch, report=None, stderr=stderr)
    assert _main(tmp_path) == run_audit.NOT_AUDITED
    assert "not audited: service unreachable" in capsys.readouterr().out


def test_main_every_dependency_skipped_is_not_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_pip_audit(monkeypatch, report=_report({"name": "a", "skip_reason": "404"}))
    assert _main(tmp_path) == run_audit.NOT_AUDITED
    assert "not audited: service unreachable (pypi; first: a: 404)" in capsys.readouterr().out


def test_main_other_crash_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pip_audit(monkeypatch, report=None, stderr="ValueError: bad lock\n")
    assert _main(tmp_path) == run_audit.ERROR


def test_main_vulnerability_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_pip_audit(monkeypatch, report=_report({"name": "a", "version": "1", "vulns": [VULN]}))
    assert _main(tmp_path) == run_audit.VULNERABLE
    assert "error: a 1: PYSEC-1 (CVE-1, GHSA-1); fixed in: 2.0" in capsys.readouterr().out


def test_main_clean_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pip_audit(monkeypatch, report=_report({"name": "a", "version": "1", "vulns": []}))
    assert _main(tmp_path) == run_audit.PASSED


def test_main_expired_ignore_fails_before_any_service_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ignores.toml").write_text(
        '[[ignore]]\nid = "GHSA-1"\nreason = "r"\nexpires = 2026-12-31\n', encoding="utf-8"
    )
    _fake_pip_audit(monkeypatch, report=None, stderr="ConnectionError")
    assert _main(tmp_path) == run_audit.VULNERABLE
    assert "ignore GHSA-1 expired on 2026-12-31" in capsys.readouterr().err


def test_main_bad_ignore_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ignores.toml").write_text("[[ignore]]\nid = 1\n", encoding="utf-8")
    assert _main(tmp_path) == run_audit.ERROR


# --- action pins ---


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
        "    uses: github/codeql-action/init@f09c1c0a94de965c15400f5634aa42fac8fb8f88 # v3.27.5",
        "      - uses: ./.github/actions/setup",
        "      - run: echo uses: nothing",
        "        uses: aquasecurity/trivy-action@18f2510ee396bbf400402947b394f2dd8c87dbb0 # 0.29.0",
    ],
)
def test_pinned_or_local_is_accepted(line: str) -> None:
    assert pins.check_line(line) is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("      - uses: actions/checkout@v4", "'v4' is not a full commit SHA"),
        ("      - uses: actions/checkout@main  # v4", "'main' is not a full commit SHA"),
        ("      - uses: actions/checkout", "no ref"),
        (
            "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
            "no version comment",
        ),
        ("      - uses: docker://alpine:3.20", "@sha256: digest"),
    ],
)
def test_unpinned_is_refused(line: str, problem: str) -> None:
    found = pins.check_line(line)
    assert found is not None
    assert problem in found


def test_pins_main_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text("jobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n")
    assert pins.main([str(workflow)]) == 1
    assert f"{workflow}:4: actions/checkout@v4" in capsys.readouterr().err


def test_repository_workflows_are_pinned() -> None:
    workflows = sorted((ROOT / ".github/workflows").glob("*.y*ml"))
    assert [p for w in workflows for p in pins.check_file(w)] == []


# --- licences ---


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("MIT", True),
        ("mit", True),
        ("GPL-3.0-only", False),
        ("Apache-2.0 OR BSD-3-Clause", True),
        ("GPL-3.0-only OR MIT", True),
        ("MIT AND GPL-3.0-only", False),
        ("BSD-3-Clause AND 0BSD AND MIT", True),
        ("(GPL-3.0-only OR MIT) AND Apache-2.0", True),
        ("Apache-2.0 WITH LLVM-exception", True),
        ("", False),
        ("MIT AND", False),
    ],
)
def test_spdx_expressions(expression: str, allowed: bool) -> None:  # noqa: FBT001
    assert (
        licenses.spdx_allows(expression, {"MIT", "Apache-2.0", "BSD-3-Clause", "0BSD"}) is allowed
    )


def _meta(**fields: str | list[str]) -> Message:
    meta = Message()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            meta[key.replace("_", "-")] = item
    return meta


ALIASES = {
    "MIT License": "MIT",
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
}


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (_meta(License_Expression="MIT OR Apache-2.0", License="GPL"), "MIT OR Apache-2.0"),
        (_meta(License="MIT License"), "MIT"),
        (_meta(License="BSD-2-Clause"), "BSD-2-Clause"),
        (_meta(License="UNKNOWN", Classifier="License :: OSI Approved :: MIT License"), "MIT"),
        (_meta(License="Copyright (c) 2015, a long licence text\nthat goes on"), None),
        (
            _meta(
                Classifier=[
                    "License :: OSI Approved :: MIT License",
                    "License :: OSI Approved :: Apache Software License",
                ]
            ),
            "MIT OR Apache-2.0",
        ),
        (_meta(Classifier="Programming Language :: Python"), None),
    ],
)
def test_declared_license(meta: Message, expected: str | None) -> None:
    assert licenses.declared_license(meta, ALIASES) == expected  # type: ignore[arg-type]


def test_license_check_runtime_is_stricter() -> None:
    policy = licenses.Policy(
        allowed={"MIT"}, dev_allowed={"LGPL-2.1-or-later"}, aliases={}, packages={}
    )
    metas = {"lib": _meta(License_Expression="LGPL-2.1-or-later")}
    read = metas.__getitem__
    assert licenses.check({"lib": "1"}, set(), policy, read) == []  # type: ignore[arg-type]
    assert licenses.check({"lib": "1"}, {"lib"}, policy, read) == [  # type: ignore[arg-type]
        "lib 1: 'LGPL-2.1-or-later' is not allowed for the runtime"
    ]


def test_license_check_unknown_needs_an_entry() -> None:
    policy = licenses.Policy(allowed={"MIT"}, dev_allowed=set(), aliases={}, packages={})
    metas = {"odd": _meta(Summary="no licence")}
    found = licenses.check({"odd": "1"}, set(), policy, metas.__getitem__)  # type: ignore[arg-type]
    assert found == [
        (
            "odd 1: no licence in its metadata; add it to [packages] in "
            "tools/security/licenses.toml with a reason"
        )
    ]


# --- clang's analyzer ---


def test_analyzer_fails_on_findings_and_uses_setup_flags() -> None:
    cmd = analyze_c.analyze_command("clang", Path("x.bpf.c"))
    assert cmd[:4] == ["clang", "--analyze", "-Xclang", "-analyzer-werror"]
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    for flag in ("-g", "-O2", "-target", "bpf", "-Wall", "-Werror"):
        assert flag in cmd
        assert f'"{flag}"' in setup
