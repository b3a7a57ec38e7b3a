"""The task runner: one session per gate, the same locally, in hooks and in CI.

Sessions run in the current environment (the project's ``.venv``, set up by
``scripts/bootstrap.sh``), so every tool is the version pinned in
``requirements/dev.lock``. Every gate fails the run when it fails; none only
warns.

    nox -s fast        format, lint, typecheck, unit tests: for small changes
    nox -s all         every gate, as CI runs them
    nox -s format -- --fix   rewrite instead of checking
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

# run the tools of the environment nox itself runs in (.venv), whatever PATH says
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

nox.options.default_venv_backend = "none"
nox.options.sessions = ["all"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYTHON_PATHS = ["src", "tests", "setup.py", "noxfile.py", "scripts"]
C_SOURCES = sorted(str(p) for p in (ROOT / "src/bee_trace/kernel").glob("*.[ch]"))
SHELL_SCRIPTS = ["scripts/bootstrap.sh", ".ci/run"]
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
        session.run("ruff", "format", *PYTHON_PATHS)
        session.run("ruff", "check", "--fix-only", "--quiet", *PYTHON_PATHS)
        session.run("clang-format", "-i", *C_SOURCES, external=True)
        return
    session.run("ruff", "format", "--check", *PYTHON_PATHS)
    session.run("clang-format", "--dry-run", "--Werror", *C_SOURCES, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (strict), shellcheck, dead code (vulture), dependencies (deptry)."""
    session.run("ruff", "check", *PYTHON_PATHS)
    session.run("shellcheck", *SHELL_SCRIPTS, external=True)
    session.run("vulture", "src", "tests", "tools/vulture_allowlist.py", "--min-confidence", "60")
    session.run("deptry", "src")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the tooling."""
    session.run("mypy", "--strict", "src", "tests", "noxfile.py", "setup.py", "scripts")


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


@nox.session
def fast(session: nox.Session) -> None:
    """For small changes: format, lint, typecheck and the unit tests."""
    session.notify("format")
    session.notify("lint")
    session.notify("typecheck")
    _install(session)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit")


@nox.session(name="all")
def all_gates(session: nox.Session) -> None:
    """Every gate, as CI runs them; the tests run once, under coverage."""
    for name in ("format", "lint", "typecheck", "docs"):
        session.notify(name)
    session.notify("coverage", posargs=session.posargs)
