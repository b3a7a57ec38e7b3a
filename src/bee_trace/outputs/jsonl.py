"""The JSON Lines format: one compact JSON object per event, for machines.

``events.schema.json`` beside this module describes every object; see
``docs/events.md``. Byte fields go through
:func:`bee_trace.outputs.escape.escape_json_str` and the encoded line through
:func:`bee_trace.outputs.escape.harden_json`, so a line is valid UTF-8, holds
no raw control or bidi character and never breaks in two.

File accesses, the events a flood is made of, take a faster path that
builds the same line from cached pieces: the escaped, encoded ``comm``,
path, rule, flags and result repeat from one event to the next. Hardening
works character by character, so hardening each piece gives the same text
as hardening the whole line; the tests check the two paths byte for byte.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

from bee_trace.events.model import (
    FileAccessEvent,
    MemoryAccessEvent,
    NetworkConnectionEvent,
    ProcessInfo,
)
from bee_trace.outputs.escape import escape_json_str, harden_json
from bee_trace.outputs.render import error_name, flag_name_list, format_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from bee_trace.events.model import Event

SCHEMA_RESOURCE = "events.schema.json"

# one encoder for every line: json.dumps with options builds a new one per call
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _process_record(event: Event) -> dict[str, Any]:
    """Return the keys every event type starts with."""
    process = event.process
    return {
        "type": event.type,
        "category": event.category,
        "timestamp": format_timestamp(event.timestamp),
        "pid": process.pid,
        "tid": process.tid,
        "ppid": process.ppid,
        "uid": process.uid,
        "comm": escape_json_str(process.comm),
    }


def _file_access_record(event: FileAccessEvent) -> dict[str, Any]:
    """Return a file access's own keys."""
    return {
        "syscall": event.syscall,
        "path": escape_json_str(event.path),
        "resolved": event.resolved,
        "flags": event.flags,
        "flag_names": flag_name_list(event.flags),
        "result": event.result,
        "result_name": error_name(event.result),
        "rule": event.rule,
    }


def _network_connection_record(event: NetworkConnectionEvent) -> dict[str, Any]:
    """Return a network connection's own keys."""
    return {
        "syscall": event.syscall,
        "family": event.family,
        "protocol": event.protocol,
        "daddr": event.daddr,
        "dport": event.dport,
        "result": event.result,
        "result_name": error_name(event.result),
        "count": event.count,
        "blocked": event.blocked,
        "rule": event.rule,
        "action": event.action,
    }


def _memory_access_record(event: MemoryAccessEvent) -> dict[str, Any]:
    """Return a memory access's own keys."""
    return {
        "operation": event.operation,
        "request": event.request,
        "access": event.access,
        "target_pid": event.target_pid,
        "target_comm": escape_json_str(event.target_comm),
        "result": event.result,
        "result_name": error_name(event.result),
        "action": event.action,
    }


# one entry per event type, and one definition in events.schema.json; each function
# takes exactly the class it is keyed by
_TYPE_RECORDS: dict[type[Event], Callable[[Any], dict[str, Any]]] = {
    FileAccessEvent: _file_access_record,
    NetworkConnectionEvent: _network_connection_record,
    MemoryAccessEvent: _memory_access_record,
}


def event_record(event: Event) -> dict[str, Any]:
    """Return the JSON object for one event, as a dict ready for :func:`json.dumps`."""
    type_record = _TYPE_RECORDS.get(type(event))
    if type_record is None:
        msg = f"no JSON rendering for {type(event).__name__}"
        raise TypeError(msg)
    return _process_record(event) | type_record(event)


def format_generic(event: Event) -> str:
    """Return the JSON line for one event through :func:`event_record`: the reference."""
    document = _ENCODER.encode(event_record(event))
    return harden_json(document)


# the pieces the fast path caches; a flood repeats a few values, a hostile
# process may vary them all, so each cache is emptied when full
_CACHE_MAX: Final = 1024
# a path longer than this is encoded each time: a full cache stays small
_CACHED_PATH_MAX: Final = 512

# id(process) -> (process, its members): the object is held, so its id is not reused
_process_pieces: dict[int, tuple[ProcessInfo, str]] = {}
# (syscall, path, resolved, flags, result, rule) -> the members after comm
_access_pieces: dict[tuple[str, bytes, bool, int, int, str], str] = {}


def _remember(cache: dict[Any, Any], key: object, value: Any) -> None:  # noqa: ANN401 - any cache
    """Store value under key, emptying the cache first when it is full."""
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


def _encoded(value: object) -> str:
    """One JSON value, encoded and hardened as it appears in a line."""
    return harden_json(_ENCODER.encode(value))


def _members(record: dict[str, Any]) -> str:
    """Members of an object as a line writes them, without the braces."""
    return _encoded(record)[1:-1]


def _process_piece(process: ProcessInfo) -> str:
    """The members pid .. comm, remembered for the process object."""
    found = _process_pieces.get(id(process))
    if found is not None and found[0] is process:
        return found[1]
    piece = _members(
        {
            "pid": process.pid,
            "tid": process.tid,
            "ppid": process.ppid,
            "uid": process.uid,
            "comm": escape_json_str(process.comm),
        }
    )
    _remember(_process_pieces, id(process), (process, piece))
    return piece


def _access_piece(event: FileAccessEvent) -> str:
    """The members syscall .. rule of a file access, remembered for their values."""
    key = (event.syscall, event.path, event.resolved, event.flags, event.result, event.rule)
    found = _access_pieces.get(key)
    if found is not None:
        return found
    piece = _members(_file_access_record(event))
    if len(event.path) <= _CACHED_PATH_MAX:
        _remember(_access_pieces, key, piece)
    return piece


def _second_of(when: datetime) -> tuple[datetime, datetime, str]:
    """The UTC second holding ``when``: its start, its end and its text up to the fraction.

    The text is what :func:`format_timestamp` writes, opening quote included
    and microseconds left out: ``"2026-12-04T15:30:01.``.
    """
    start = when.replace(microsecond=0)
    whole = format_timestamp(start)
    try:
        end = start + timedelta(seconds=1)
    except OverflowError:  # the last second of year 9999: a window that holds nothing
        end = start
    return start, end, '"' + whole[: -len("000000Z")]


# the second the last UTC timestamp fell in: a flood's timestamps are in order
_current_second: list[tuple[datetime, datetime, str]] = [
    _second_of(datetime(1970, 1, 1, tzinfo=UTC))
]


_FILE_START: Final = (
    f'{{"type":{_encoded(FileAccessEvent.type)},"category":{_encoded(FileAccessEvent.category)},'
    '"timestamp":'
)


def format_lines(events: Iterable[Event]) -> str:
    """Return the JSON lines of events, each ended by a line break.

    A file access is put together from the cached pieces, looked up here
    rather than through the helpers, which only fill a piece on a miss: this
    loop runs once per event of a flood. Other events take
    :func:`format_generic`.
    """
    process_piece_of, access_piece_of = _process_pieces.get, _access_pieces.get
    second_start, second_end, second_text = _current_second[0]
    last_process: ProcessInfo | None = None
    last_process_piece = ""
    lines: list[str] = []
    for event in events:
        if type(event) is not FileAccessEvent:
            lines.append(format_generic(event))
            continue
        when = event.timestamp
        if when.tzinfo is not UTC:
            timestamp = _encoded(format_timestamp(when))
        else:
            if not second_start <= when < second_end:
                second_start, second_end, second_text = _current_second[0] = _second_of(when)
            # %-formatting: several times cheaper than a format spec in an f-string
            timestamp = '%s%06dZ"' % (second_text, when.microsecond)  # noqa: UP031
        process = event.process
        if process is not last_process:
            known = process_piece_of(id(process))
            last_process_piece = (
                known[1] if known is not None and known[0] is process else _process_piece(process)
            )
            last_process = process
        access_key = (
            event.syscall,
            event.path,
            event.resolved,
            event.flags,
            event.result,
            event.rule,
        )
        access_piece = access_piece_of(access_key) or _access_piece(event)
        lines.append(f"{_FILE_START}{timestamp},{last_process_piece},{access_piece}}}")
    lines.append("")
    return "\n".join(lines)


def format_event(event: Event) -> str:
    """Return the JSON line for one event, without a line break."""
    return format_lines((event,))[:-1]


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) every JSON line conforms to."""
    text = files("bee_trace.outputs").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
