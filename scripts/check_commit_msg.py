"""commit-msg hook: the first line must follow Conventional Commits.

    type(scope): subject      scope optional; '!' before ':' marks a breaking change

Types: build, chore, ci, docs, feat, fix, perf, refactor, revert, style, test.
The first line is at most 72 characters. Merge and revert lines git writes
itself, and fixup!/squash! lines, pass.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TYPES = (
    "build", "chore", "ci", "docs", "feat", "fix", "perf", "refactor", "revert", "style", "test",
)  # fmt: skip
SUBJECT_MAX = 72
PATTERN = re.compile(rf"^(?:{'|'.join(TYPES)})(?:\([a-z0-9][a-z0-9_./-]*\))?!?: \S.*$")
EXEMPT = re.compile(r"^(?:Merge |Revert \"|fixup! |squash! |amend! )")
EXAMPLE = "feat(file): report opens through open_by_handle_at"


def problem(first_line: str) -> str | None:
    """What is wrong with a commit message's first line, or None."""
    if EXEMPT.match(first_line):
        return None
    if len(first_line) > SUBJECT_MAX:
        return f"the first line has {len(first_line)} characters; at most {SUBJECT_MAX}"
    if not PATTERN.match(first_line):
        return f"{first_line!r} is not 'type(scope): subject' with a type from {', '.join(TYPES)}"
    return None


def first_line(message: str) -> str:
    """The first line that is not a comment or blank."""
    for line in message.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.rstrip()
    return ""


def main(argv: list[str]) -> int:
    """Check the message file git passes to the commit-msg hook."""
    if len(argv) != 2:  # noqa: PLR2004 - program name and the message file
        sys.stderr.write("usage: check_commit_msg.py COMMIT_MSG_FILE\n")
        return 2
    found = problem(first_line(Path(argv[1]).read_text(encoding="utf-8")))
    if found is None:
        return 0
    sys.stderr.write(f"commit-msg: {found}\ncommit-msg: for example: {EXAMPLE}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
