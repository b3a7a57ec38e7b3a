"""The text format: one ``key=value`` line per event, for people and grep.

A line reads ``Event: <category>`` and then ``key=value`` fields in a fixed
order: time, pid, tid, ppid, uid, comm, syscall, path, resolved (only when
false), flags, result, rule. For example (one line, wrapped here)::

    Event: File access time=2026-12-04T15:30:01.123456Z pid=1234 tid=1234 ppid=1
    uid=1000 comm=cat syscall=openat path=/home/u/.ssh/id_rsa flags=O_RDONLY|O_CLOEXEC
    result=3 rule=id_rsa

Every value goes through :func:`bee_trace.outputs.escape.text_value`, so a
value never holds a line break or an unquoted space, ``=`` or ``"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bee_trace.outputs.escape import text_value
from bee_trace.outputs.render import flag_names, format_timestamp, result_name

if TYPE_CHECKING:
    from bee_trace.events.model import Event


def format_event(event: Event) -> str:
    """Return the text line for one event, without a line break."""
    process = event.process
    fields: list[tuple[str, bytes | str | int]] = [
        ("time", format_timestamp(event.timestamp)),
        ("pid", process.pid),
        ("tid", process.tid),
        ("ppid", process.ppid),
        ("uid", process.uid),
        ("comm", process.comm),
        ("syscall", event.syscall),
        ("path", event.path),
    ]
    if not event.resolved:
        fields.append(("resolved", "false"))
    fields += [
        ("flags", flag_names(event.flags)),
        ("result", result_name(event.result)),
        ("rule", event.rule),
    ]
    rendered = " ".join(
        f"{key}={value}" if isinstance(value, int) else f"{key}={text_value(value)}"
        for key, value in fields
    )
    return f"Event: {event.category} {rendered}"
