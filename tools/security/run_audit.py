"""Audit the locked dependencies for known vulnerabilities, with honest exit codes.

``pip-audit`` reads each ``requirements/*.lock`` as it is (hashes required, no
resolver, nothing installed) and asks a vulnerability service about every pin.
Its own exit code cannot be trusted alone: where the service does not answer
for a release, pip-audit *skips* that dependency and still says "No known
vulnerabilities found". This wrapper reads pip-audit's JSON report instead and
counts a pass only when every pin was audited.

Exit codes:

    0  every locked dependency audited; none has a known vulnerability
       (apart from ignores in force)
    1  a known vulnerability, or an ignore past its expiry date
    2  the audit could not be set up (bad ignore file, pip-audit failed)
    3  not audited: the service could not be reached, or did not answer for
       every dependency. Not a pass and not a failure: "not run".

    python -m tools.security.run_audit [--lock FILE]... [--service pypi|osv]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tools.security.ignores import Ignore, IgnoreFileError, load_ignores

ROOT = Path(__file__).resolve().parents[2]
IGNORES = ROOT / "tools" / "security" / "audit-ignores.toml"
REPORT = ROOT / "reports" / "security" / "audit.json"

PASSED = 0
VULNERABLE = 1
ERROR = 2
NOT_AUDITED = 3

# pip-audit's timeout for one request, and ours for one whole run
REQUEST_TIMEOUT_S = 30
RUN_TIMEOUT_S = 900

# what pip-audit's traceback says when no connection was made
_UNREACHABLE_SIGNS = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "ConnectTimeout",
    "ReadTimeout",
    "SSLError",
    "ProxyError",
)


@dataclass(frozen=True)
class Finding:
    """One known vulnerability of one locked release."""

    name: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    def matches(self, ignore: Ignore) -> bool:
        """True when ``ignore`` names this vulnerability by its id or an alias."""
        return ignore.id == self.id or ignore.id in self.aliases


@dataclass
class Verdict:
    """What one or more pip-audit reports add up to."""

    audited: int = 0
    findings: list[Finding] = field(default_factory=list)
    ignored: list[tuple[Finding, Ignore]] = field(default_factory=list)
    # (name, why pip-audit could not audit it)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # the service was not reached at all (a connection error, not a skip)
    unreachable: str | None = None

    def exit_code(self) -> int:
        """A vulnerability fails the run even where other pins went unaudited."""
        if self.findings:
            return VULNERABLE
        if self.unreachable is not None or self.skipped:
            return NOT_AUDITED
        return PASSED


def judge(report: dict[str, object], ignores: list[Ignore], verdict: Verdict) -> None:
    """Add one pip-audit JSON report to ``verdict``."""
    dependencies = report.get("dependencies")
    if not isinstance(dependencies, list):
        msg = f"pip-audit report has no dependency list: {sorted(report)}"
        raise TypeError(msg)
    for dep in dependencies:
        name = str(dep["name"])
        if "skip_reason" in dep:
            verdict.skipped.append((name, str(dep["skip_reason"])))
            continue
        verdict.audited += 1
        for vuln in dep.get("vulns", []):
            finding = Finding(
                name=name,
                version=str(dep.get("version", "?")),
                id=str(vuln["id"]),
                aliases=tuple(str(a) for a in vuln.get("aliases", [])),
                fix_versions=tuple(str(v) for v in vuln.get("fix_versions", [])),
            )
            accepted = next((i for i in ignores if finding.matches(i)), None)
            if accepted is None:
                verdict.findings.append(finding)
            else:
                verdict.ignored.append((finding, accepted))


def _unreachable(stderr: str) -> str | None:
    """The line of pip-audit's error output that shows no connection was made."""
    if not any(sign in stderr for sign in _UNREACHABLE_SIGNS):
        return None
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "connection failed"


def audit_lock(
    lock: Path, service: str, ignores: list[Ignore], verdict: Verdict, report_dir: Path
) -> str | None:
    """Run pip-audit over one lock file; return an error message when it failed."""
    report = report_dir / f"{lock.stem}.json"
    report.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "pip_audit",
        "--requirement", str(lock), "--require-hashes", "--disable-pip",
        "--vulnerability-service", service, "--timeout", str(REQUEST_TIMEOUT_S),
        "--format", "json", "--aliases", "on", "--desc", "off",
        "--progress-spinner", "off", "--output", str(report),
    ]  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603 - our argv, no shell
            cmd, capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        verdict.unreachable = f"no answer within {RUN_TIMEOUT_S} s"
        return None
    if not report.exists():
        # pip-audit stopped before writing its report: a traceback on stderr
        if (why := _unreachable(done.stderr)) is not None:
            verdict.unreachable = why
            return None
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return f"pip-audit failed on {lock} (exit {done.returncode}):\n{tail}"
    judge(json.loads(report.read_text(encoding="utf-8")), ignores, verdict)
    return None


def _out(text: str) -> None:
    sys.stdout.write(f"{text}\n")


def _err(text: str) -> None:
    sys.stderr.write(f"{text}\n")


def _print_verdict(verdict: Verdict, service: str) -> None:
    """One line per finding, ignore and gap; the headline last."""
    for finding, ignore in verdict.ignored:
        _out(
            f"audit: ignored {finding.id} in {finding.name} {finding.version} until "
            f"{ignore.expires.isoformat()}: {ignore.reason}"
        )
    for finding in verdict.findings:
        fixed = ", ".join(finding.fix_versions) or "no fixed release yet"
        also = f" ({', '.join(finding.aliases)})" if finding.aliases else ""
        _out(f"error: {finding.name} {finding.version}: {finding.id}{also}; fixed in: {fixed}")
    total = verdict.audited + len(verdict.skipped)
    code = verdict.exit_code()
    if code == VULNERABLE:
        _out(
            f"audit: {len(verdict.findings)} known vulnerabilities in the locked set.\n"
            "Tip: upgrade the pin (re-lock with uv pip compile), or accept it for a while "
            "in tools/security/audit-ignores.toml with a reason and an expiry date."
        )
    if verdict.unreachable is not None:
        _out(f"not audited: service unreachable ({service}: {verdict.unreachable})")
    elif verdict.skipped:
        name, reason = verdict.skipped[0]
        headline = (
            "service unreachable"
            if len(verdict.skipped) == total
            else f"{len(verdict.skipped)} of {total} dependencies could not be audited"
        )
        _out(f"not audited: {headline} ({service}; first: {name}: {reason})")
    elif code == PASSED:
        _out(
            f"audit: {verdict.audited} locked dependencies audited ({service}): "
            f"no known vulnerabilities, {len(verdict.ignored)} ignored"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.security.run_audit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--lock",
        action="append",
        type=Path,
        help="a hashed lock file to audit (repeatable; default: requirements/*.lock)",
    )
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    parser.add_argument("--ignores", type=Path, default=IGNORES)
    parser.add_argument("--report-dir", type=Path, default=REPORT.parent)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Audit the locks; return one of the exit codes in the module docstring."""
    args = _parser().parse_args(argv)
    today: dt.date = args.today or dt.datetime.now(tz=dt.UTC).date()
    try:
        ignores = load_ignores(args.ignores)
    except IgnoreFileError as exc:
        _err(f"error: {exc}")
        return ERROR

    # an expired ignore fails even when the service cannot be reached
    expired = [i for i in ignores if i.expired(today)]
    for ignore in expired:
        _err(
            f"error: ignore {ignore.id} expired on {ignore.expires.isoformat()} "
            f"({ignore.reason})\nTip: fix the dependency, or renew the ignore with a new "
            f"reason and date in {args.ignores}"
        )
    if expired:
        return VULNERABLE

    locks: list[Path] = args.lock or sorted((ROOT / "requirements").glob("*.lock"))
    args.report_dir.mkdir(parents=True, exist_ok=True)
    verdict = Verdict()
    for lock in locks:
        # each lock on its own: pip-audit refuses one name pinned twice across files
        if (error := audit_lock(lock, args.service, ignores, verdict, args.report_dir)) is not None:
            _err(f"error: {error}")
            return ERROR
        if verdict.unreachable is not None:
            break
    _print_verdict(verdict, args.service)
    return verdict.exit_code()


if __name__ == "__main__":
    sys.exit(main())
