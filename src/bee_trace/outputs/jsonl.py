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
from datetime import UTC
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
    from datetime import datetime

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
_seconds: dict[tuple[int, int, int, int, int, int], str] = {}


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


def _timestamp_value(when: datetime) -> str:
    """The timestamp as :func:`format_timestamp` writes it, the date and time of day cached."""
    if when.tzinfo is not UTC:
        return _encoded(format_timestamp(when))
    key = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    second = _seconds.get(key)
    if second is None:
        whole = format_timestamp(when.replace(microsecond=0))
        # "...T15:30:01.000000Z" -> '"...T15:30:01.'
        second = '"' + whole[: -len("000000Z")]
        _remember(_seconds, key, second)
    # %-formatting: several times cheaper than a format spec in an f-string
    return '%s%06dZ"' % (second, when.microsecond)  # noqa: UP031


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
    second_of, process_piece_of, access_piece_of = (
        _seconds.get,
        _process_pieces.get,
        _access_pieces.get,
    )
    lines: list[str] = []
    for event in events:
        if type(event) is not FileAccessEvent:
            lines.append(format_generic(event))
            continue
        when = event.timestamp
        second = (
            second_of((when.year, when.month, when.day, when.hour, when.minute, when.second))
            if when.tzinfo is UTC
            else None
        )
        timestamp = (
            _timestamp_value(when) if second is None else '%s%06dZ"' % (second, when.microsecond)  # noqa: UP031 - cheaper than a spec
        )
        process = event.process
        known = process_piece_of(id(process))
        process_piece = (
            known[1] if known is not None and known[0] is process else _process_piece(process)
        )
        access_key = (
            event.syscall,
            event.path,
            event.resolved,
            event.flags,
            event.result,
            event.rule,
        )
        access_piece = access_piece_of(access_key) or _access_piece(event)
        lines.append(f"{_FILE_START}{timestamp},{process_piece},{access_piece}}}")
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
