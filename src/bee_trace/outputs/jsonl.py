"""The JSON Lines format: one compact JSON object per event, for machines.

``events.schema.json`` beside this module describes every object; see
``docs/events.md``. Byte fields go through
:func:`bee_trace.outputs.escape.escape_json_str` and the encoded line through
:func:`bee_trace.outputs.escape.harden_json`, so a line is valid UTF-8, holds
no raw control or bidi character and never breaks in two.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from bee_trace.events.model import FileAccessEvent, MemoryAccessEvent, NetworkConnectionEvent
from bee_trace.outputs.escape import escape_json_str, harden_json
from bee_trace.outputs.render import error_name, flag_name_list, format_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable

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


def format_event(event: Event) -> str:
    """Return the JSON line for one event, without a line break."""
    document = _ENCODER.encode(event_record(event))
    return harden_json(document)


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) every JSON line conforms to."""
    text = files("bee_trace.outputs").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
