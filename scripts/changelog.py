"""Render the changelog of a release from its Conventional Commits.

    python scripts/changelog.py                      since the previous tag, to stdout
    python scripts/changelog.py --version 0.2.0 -o dist/CHANGELOG.md

Commits are read with ``git log`` from the previous tag (the newest tag
reachable from ``--until`` that does not point at it) to ``--until``, and
grouped by type (``feat``, ``fix``, ...). A ``!`` after the type or a
``BREAKING CHANGE:`` footer also lists the commit under breaking changes.
Subjects that are not Conventional Commits go under "Other".
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# section titles, in the order they are printed; types not named go to "Other"
SECTIONS: Final = {
    "feat": "Features",
    "fix": "Fixes",
    "perf": "Performance",
    "refactor": "Refactoring",
    "docs": "Documentation",
    "test": "Tests",
    "build": "Build",
    "ci": "CI",
}
OTHER: Final = "Other"
BREAKING: Final = "Breaking changes"

_HEADER: Final = re.compile(
    r"^(?P<type>[a-z]+)(?:\((?P<scope>[^()\s]+)\))?(?P<bang>!)?: (?P<subject>\S.*)$"
)
_FIELD: Final = "\x1f"
_RECORD: Final = "\x1e"


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit, split into its Conventional Commits parts."""

    sha: str
    type: str | None
    scope: str | None
    subject: str
    breaking: bool


def parse(sha: str, message: str) -> Commit:
    """Split a commit message; a header that is not conventional keeps its text."""
    header, _, body = message.partition("\n")
    m = _HEADER.match(header.strip())
    breaking_footer = re.search(r"^BREAKING[ -]CHANGE: ", body, re.MULTILINE) is not None
    if m is None:
        return Commit(sha, None, None, header.strip(), breaking=breaking_footer)
    return Commit(
        sha,
        m["type"],
        m["scope"],
        m["subject"],
        breaking=bool(m["bang"]) or breaking_footer,
    )


def _line(commit: Commit) -> str:
    scope = f"**{commit.scope}:** " if commit.scope else ""
    return f"- {scope}{commit.subject} ({commit.sha[:7]})"


def render(commits: list[Commit], version: str, date: dt.date) -> str:
    """The Markdown section of one release: breaking changes first, then by type."""
    out = [f"## {version} ({date.isoformat()})", ""]
    groups: dict[str, list[Commit]] = {}
    for commit in commits:
        title = SECTIONS.get(commit.type or "", OTHER)
        groups.setdefault(title, []).append(commit)
    breaking = [c for c in commits if c.breaking]
    ordered = [(BREAKING, breaking)]
    ordered += [(title, groups.get(title, [])) for title in (*SECTIONS.values(), OTHER)]
    for title, members in ordered:
        if not members:
            continue
        out += [f"### {title}", "", *(_line(c) for c in members), ""]
    if len(out) == 2:  # noqa: PLR2004 - only the heading and its blank line
        out += ["No changes.", ""]
    return "\n".join(out)


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(  # noqa: S603 - git with fixed options and refs from the command line
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def previous_tag(until: str, cwd: Path) -> str | None:
    """The newest tag reachable from ``until`` that does not point at it."""
    head = _git("rev-parse", f"{until}^{{commit}}", cwd=cwd).strip()
    for tag in _git("tag", "--merged", until, "--sort=-v:refname", cwd=cwd).split():
        if _git("rev-parse", f"{tag}^{{commit}}", cwd=cwd).strip() != head:
            return tag
    return None


def commits_since(since: str | None, until: str, cwd: Path) -> list[Commit]:
    """The commits in ``since..until``, newest first, merges left out."""
    span = f"{since}..{until}" if since else until
    raw = _git("log", "--no-merges", f"--format=%H{_FIELD}%B{_RECORD}", span, cwd=cwd)
    commits = []
    for record in raw.split(_RECORD):
        if not record.strip():
            continue
        sha, _, message = record.strip().partition(_FIELD)
        commits.append(parse(sha, message))
    return commits


def main(argv: list[str] | None = None) -> int:
    """Write the changelog section; exit 1 with a message if git fails."""
    parser = argparse.ArgumentParser(prog="changelog.py", description=__doc__)
    parser.add_argument("--since", help="tag or commit to start after (default: previous tag)")
    parser.add_argument("--until", default="HEAD", help="last commit (default: HEAD)")
    parser.add_argument("--version", default="Unreleased", help="heading of the section")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    cwd = Path.cwd()
    try:
        since = args.since or previous_tag(args.until, cwd)
        commits = commits_since(since, args.until, cwd)
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(f"changelog: error: git failed: {exc.stderr.strip()}\n")
        return 1
    text = render(commits, args.version, dt.datetime.now(tz=dt.UTC).date())
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
