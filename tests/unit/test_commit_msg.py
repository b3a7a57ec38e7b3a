"""The commit-msg hook: Conventional Commits, clear refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "check_commit_msg.py"


def _check(tmp_path: Path, message: str) -> subprocess.CompletedProcess[str]:
    msg = tmp_path / "COMMIT_EDITMSG"
    msg.write_text(message, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(msg)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "message",
    [
        "feat(file): report opens through open_by_handle_at\n",
        "fix: count undeliverable events\n\nbody text\n",
        "ci(workflows)!: drop the old runner\n",
        "# a comment git adds\nrefactor(bpf): one binding module\n",
        "Merge branch 'main' into topic\n",
        "fixup! feat(file): something\n",
        "docs(policy.md): keys table\n",
    ],
)
def test_accepted(tmp_path: Path, message: str) -> None:
    result = _check(tmp_path, message)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("fixed stuff\n", "is not 'type(scope): subject'"),
        ("feature(file): wrong type\n", "is not 'type(scope): subject'"),
        ("feat(File): upper-case scope\n", "is not 'type(scope): subject'"),
        ("feat:no space\n", "is not 'type(scope): subject'"),
        ("feat(file): " + "x" * 70 + "\n", "at most 72"),
        ("\n\n", "is not 'type(scope): subject'"),
    ],
)
def test_refused_with_the_problem_and_an_example(
    tmp_path: Path, message: str, problem: str
) -> None:
    result = _check(tmp_path, message)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert problem in lines[0]
    assert lines[1] == "commit-msg: for example: feat(file): report opens through open_by_handle_at"


def test_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "usage" in result.stderr
