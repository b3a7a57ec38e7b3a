"""Run statistics as lines for stderr: the periodic progress line and the final summary.

Dropped events are never only a number a reader might skim past: once any
are lost, the progress line ends with a ``warning:`` and the summary gets a
``warning:`` line of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bee_trace.events.model import ProbeStats, RunSummary


def _count(events: int, dropped: int) -> str:
    """Return ``12 events, 0 dropped``."""
    noun = "event" if events == 1 else "events"
    return f"{events} {noun}, {dropped} dropped"


def _per_probe(probes: Sequence[ProbeStats]) -> list[str]:
    """Return ``name: N events, M dropped`` for each probe."""
    return [f"{p.probe}: {_count(p.events, p.dropped)}" for p in probes]


def _drop_warning(probes: Sequence[ProbeStats]) -> str | None:
    """Return ``warning: N events dropped (probe: N)``, or None when nothing was dropped."""
    dropped = sum(p.dropped for p in probes)
    if dropped == 0:
        return None
    noun = "event" if dropped == 1 else "events"
    where = ", ".join(f"{p.probe}: {p.dropped}" for p in probes if p.dropped)
    return f"warning: {dropped} {noun} dropped ({where})"


def format_summary(summary: RunSummary) -> list[str]:
    """Return the lines to print on stderr when a run ends.

    The first line reads like ``summary: ran 15.0s; file_monitor: 12 events, 0 dropped;
    total: 12 events, 0 dropped``; a second ``warning:`` line follows if any
    event was dropped.
    """
    parts = [
        f"ran {summary.duration_s:.1f}s",
        *_per_probe(summary.probes),
        f"total: {_count(summary.total_events, summary.total_dropped)}",
    ]
    lines = ["summary: " + "; ".join(parts)]
    warning = _drop_warning(summary.probes)
    if warning is not None:
        lines.append(f"{warning}; the event log is incomplete")
    return lines


def format_progress(probes: Sequence[ProbeStats]) -> str:
    """Return the periodic ``--verbose`` line for stderr.

    ``probes`` holds counts since the run started. The line reads like
    ``stats: file_monitor: 12 events, 0 dropped``; once any event was dropped
    it ends with ``; warning: N events dropped (probe: N) so far``.
    """
    line = "stats: " + ("; ".join(_per_probe(probes)) or "no probes")
    warning = _drop_warning(probes)
    if warning is not None:
        line += f"; {warning} so far"
    return line
