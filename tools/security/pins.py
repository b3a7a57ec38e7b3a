"""Every action a workflow uses is pinned by full commit SHA, its version beside it.

zizmor's ``unpinned-uses`` audit refuses a tag or branch; this check adds what
zizmor does not look at: the ``# vX.Y.Z`` comment that tells a reader (and a
dependency updater) which release the SHA is. Local actions (``./...``) need
no pin; a container (``docker://``) needs a ``@sha256:`` digest.

    python -m tools.security.pins .github/workflows/*.yml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# "uses: owner/repo[/path]@ref  # comment", as a step or a reusable-workflow job
_USES = re.compile(
    r"""^\s*(?:-\s*)?uses:\s*["']?(?P<target>[^\s"'#]+)["']?\s*(?:\#\s*(?P<comment>.*))?$"""
)
_SHA = re.compile(r"^[0-9a-f]{40}$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_VERSION = re.compile(r"^v?\d+(\.\d+)*\S*")


def check_line(line: str) -> str | None:
    """The problem with one workflow line, or None when it uses nothing or is pinned."""
    match = _USES.match(line)
    if match is None:
        return None
    target = match["target"]
    comment = (match["comment"] or "").strip()
    problem: str | None = None
    if target.startswith("docker://"):
        if _DIGEST.search(target) is None:
            problem = f"{target}: a container must be pinned by @sha256: digest"
    elif not target.startswith("./"):
        _, at, ref = target.partition("@")
        if not at:
            problem = f"{target}: no ref; pin a full commit SHA"
        elif _SHA.match(ref) is None:
            problem = f"{target}: {ref!r} is not a full commit SHA (40 hex digits)"
        elif _VERSION.match(comment) is None:
            problem = f"{target}: no version comment; write the release after it, e.g. '# v4.2.2'"
    return problem


def check_file(path: Path) -> list[str]:
    """Every unpinned ``uses:`` of one workflow, as ``file:line: problem``."""
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if (problem := check_line(line)) is not None:
            problems.append(f"{path}:{number}: {problem}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check the workflow files named in ``argv``; 1 when any action is unpinned."""
    paths = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    problems = [problem for path in paths for problem in check_file(path)]
    for problem in problems:
        sys.stderr.write(f"error: {problem}\n")
    if problems:
        return 1
    sys.stdout.write(f"pins: every action in {len(paths)} workflow files is pinned by SHA\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
