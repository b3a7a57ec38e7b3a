"""The text format: one ``key=value`` line per event, for people and grep.

A line reads ``Event: <category>``, then the fields every event has (time,
pid, tid, ppid, uid, comm), then the fields of its type in a fixed order. For
example (one line each, wrapped here)::

    Event: File access time=2026-12-04T15:30:01.123456Z pid=1234 tid=1234 ppid=1
    uid=1000 comm=cat syscall=openat path=/home/u/.ssh/id_rsa flags=O_RDONLY|O_CLOEXEC
    result=3 rule=id_rsa

    Event: Network connection time=2026-12-04T15:30:01.123456Z pid=2001 tid=2001
    ppid=1 uid=1000 comm=curl syscall=connect family=AF_INET protocol=tcp
    daddr=127.77.0.9 dport=8080 result=EPERM count=1 blocked=true rule=127.77.0.0/16
    action=denied

Every value goes through :func:`bee_trace.outputs.escape.text_value`, so a
value never holds a line break or an unquoted space, ``=`` or ``"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bee_trace.events.model import FileAccessEvent, MemoryAccessEvent, NetworkConnectionEvent
from bee_trace.outputs.escape import text_value
from bee_trace.outputs.render import flag_names, format_timestamp, result_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from bee_trace.events.model import Event

# ints are written as they are; bytes and str are escaped and quoted
Field = tuple[str, bytes | str | int]


def _process_fields(event: Event) -> list[Field]:
    """Return the fields every event type starts with."""
    process = event.process
    return [
        ("time", format_timestamp(event.timestamp)),
        ("pid", process.pid),
        ("tid", process.tid),
        ("ppid", process.ppid),
        ("uid", process.uid),
        ("comm", process.comm),
    ]


def _file_access_fields(event: FileAccessEvent) -> list[Field]:
    """Return a file access's own fields; ``resolved`` appears only when false."""
    fields: list[Field] = [("syscall", event.syscall), ("path", event.path)]
    if not event.resolved:
        fields.append(("resolved", "false"))
    fields += [
        ("flags", flag_names(event.flags)),
        ("result", result_name(event.result)),
        ("rule", event.rule),
    ]
    return fields


def _network_connection_fields(event: NetworkConnectionEvent) -> list[Field]:
    """Return a network connection's own fields; ``rule`` appears only when one matched."""
    fields: list[Field] = [
        ("syscall", event.syscall),
        ("family", event.family),
        ("protocol", event.protocol),
        ("daddr", event.daddr),
        ("dport", event.dport),
        ("result", result_name(event.result)),
        ("count", event.count),
        ("blocked", "true" if event.blocked else "false"),
    ]
    if event.rule is not None:
        fields.append(("rule", event.rule))
    fields.append(("action", event.action))
    return fields


def _memory_access_fields(event: MemoryAccessEvent) -> list[Field]:
    """Return a memory access's own fields; ``request`` appears only for ptrace."""
    fields: list[Field] = [("operation", event.operation)]
    if event.request is not None:
        fields.append(("request", event.request))
    fields += [
        ("access", event.access),
        ("target_pid", event.target_pid),
        ("target_comm", event.target_comm),
        ("result", result_name(event.result)),
        ("action", event.action),
    ]
    return fields


# one entry per event type; each function takes exactly the class it is keyed by
_TYPE_FIELDS: dict[type[Event], Callable[[Any], list[Field]]] = {
    FileAccessEvent: _file_access_fields,
    NetworkConnectionEvent: _network_connection_fields,
    MemoryAccessEvent: _memory_access_fields,
}


def format_event(event: Event) -> str:
    """Return the text line for one event, without a line break."""
    type_fields = _TYPE_FIELDS.get(type(event))
    if type_fields is None:
        msg = f"no text rendering for {type(event).__name__}"
        raise TypeError(msg)
    rendered = " ".join(
        f"{key}={value}" if isinstance(value, int) else f"{key}={text_value(value)}"
        for key, value in _process_fields(event) + type_fields(event)
    )
    return f"Event: {event.category} {rendered}"
