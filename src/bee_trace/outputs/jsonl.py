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

from bee_trace.outputs.escape import escape_json_str, harden_json
from bee_trace.outputs.render import errno_name, flag_name_list, format_timestamp

if TYPE_CHECKING:
    from bee_trace.events.model import Event

SCHEMA_RESOURCE = "events.schema.json"


def event_record(event: Event) -> dict[str, Any]:
    """Return the JSON object for one event, as a dict ready for :func:`json.dumps`."""
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
        "syscall": event.syscall,
        "path": escape_json_str(event.path),
        "resolved": event.resolved,
        "flags": event.flags,
        "flag_names": flag_name_list(event.flags),
        "result": event.result,
        "result_name": errno_name(-event.result) if event.result < 0 else None,
        "rule": event.rule,
    }


def format_event(event: Event) -> str:
    """Return the JSON line for one event, without a line break."""
    document = json.dumps(event_record(event), ensure_ascii=False, separators=(",", ":"))
    return harden_json(document)


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) every JSON line conforms to."""
    text = files("bee_trace.outputs").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
