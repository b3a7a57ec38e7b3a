"""Memory access events in the text and JSON formats, and their schema."""

from __future__ import annotations

import errno
import json
from typing import TYPE_CHECKING

import pytest

from bee_trace.events.model import ProcessInfo
from bee_trace.outputs import jsonl, text
from tests.unit.builders import memory_event as make_event
from tests.unit.builders import record_of

if TYPE_CHECKING:
    import jsonschema


# -- text --------------------------------------------------------------------------------


def test_text_line_without_request_golden() -> None:
    event = make_event(
        operation="process_vm_writev",
        request=None,
        access="write",
        result=4096,
        action="killed",
    )
    assert text.format_event(event) == (
        "Event: Memory access time=2026-12-04T15:30:01.123456Z pid=3001 tid=3001 ppid=900 "
        "uid=1000 comm=gdb operation=process_vm_writev access=write target_pid=1234 "
        "target_comm=sleep result=4096 action=killed"
    )


@pytest.mark.parametrize(
    ("result", "name"),
    [(0, "0"), (8, "8"), (-errno.EPERM, "EPERM"), (-errno.ESRCH, "ESRCH")],
)
def test_text_result(result: int, name: str) -> None:
    assert f" result={name} action=" in text.format_event(make_event(result=result))


@pytest.mark.parametrize("field", ["comm", "target_comm"])
def test_text_hostile_names_stay_one_line(field: str) -> None:
    hostile = b"s\nEvent: Memory access pid=1\x1b]0;x\x07 \xff"
    if field == "comm":
        event = make_event(process=ProcessInfo(pid=1, tid=1, ppid=0, uid=0, comm=hostile))
    else:
        event = make_event(target_comm=hostile)
    line = text.format_event(event)
    assert len(line.splitlines()) == 1
    assert "\x1b" not in line
    assert "\x07" not in line
    assert f' {field}="s\\nEvent: Memory access pid=1\\x1b]0;x\\x07 \\xff" ' in line
    assert line.count("Event:") == 2  # the forged one stays inside the value


def test_text_empty_target_comm_is_quoted() -> None:
    assert ' target_comm="" ' in text.format_event(make_event(target_comm=b""))


# -- JSON --------------------------------------------------------------------------------


def test_json_failure_names_the_errno(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_event(result=-errno.ESRCH))
    assert record["result_name"] == "ESRCH"
    validator.validate(record)


def test_json_hostile_target_comm_stays_one_line(
    validator: jsonschema.Draft202012Validator,
) -> None:
    hostile = b"t\nx\x1b[2J\\\xc2\x85\xe2\x80\xa8\xfe"
    line = jsonl.format_event(make_event(target_comm=hostile, request=None, operation="proc_mem"))
    assert len(line.splitlines()) == 1
    for raw in ("\n", "\x1b", "\x85", "\u2028"):
        assert raw not in line
    record = json.loads(line)
    assert record["target_comm"] == "t\nx\x1b[2J\\\\\x85\u2028\\xfe"
    assert record["request"] is None
    validator.validate(record)


# -- the schema --------------------------------------------------------------------------


def test_schema_rejects_request_without_ptrace(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_event(operation="process_vm_readv", request=None))
    assert validator.is_valid(record)
    record["request"] = "PTRACE_PEEKDATA"
    assert not validator.is_valid(record)
