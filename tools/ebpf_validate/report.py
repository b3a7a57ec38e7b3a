"""Writing reports/ebpf/: one ``<part>.json`` and ``<part>.md`` per part, and a summary.

Other tools add their own parts the same way (the kernel matrix writes
``kernel-matrix.json``/``.md``); ``summary.md`` links every ``*.md`` present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


@dataclass
class Part:
    """One part of the suite: its data, its table, its problems."""

    name: str
    title: str
    data: object
    markdown: list[str]
    problems: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def status(self) -> str:
        """``pass`` or ``FAIL``."""
        return "FAIL" if self.problems else "pass"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def write(directory: Path, parts: Sequence[Part], kernel: str) -> list[str]:
    """Write every part and the summary; return the summary's lines."""
    directory.mkdir(parents=True, exist_ok=True)
    for part in parts:
        payload = {"kernel": kernel, "problems": part.problems, "data": part.data}
        (directory / f"{part.name}.json").write_text(json.dumps(payload, indent=2) + "\n")
        lines = [f"# {part.title}", "", f"Kernel {kernel}. Status: **{part.status}**.", ""]
        if part.note:
            lines += [part.note, ""]
        lines += part.markdown
        if part.problems:
            lines += ["", "## Problems", "", *(f"- {p}" for p in part.problems)]
        (directory / f"{part.name}.md").write_text("\n".join(lines) + "\n")
    summary = [f"eBPF validation on Linux {kernel}"]
    summary += [f"  {p.status:4}  {p.name}: {p.note or p.title}" for p in parts]
    summary += [f"        - {problem}" for p in parts for problem in p.problems]
    others = sorted(
        md.name
        for md in directory.glob("*.md")
        if md.stem not in {"summary", *(p.name for p in parts)}
    )
    md = ["# eBPF validation", "", "```text", *summary, "```", ""]
    md += [f"- [{p.title}]({p.name}.md)" for p in parts]
    md += [f"- [{name}]({name})" for name in others]
    (directory / "summary.md").write_text("\n".join(md) + "\n")
    return summary
