"""Memory access events in the text and JSON formats, and their schema."""

from __future__ import annotations

import errno
import json
from datetime import UTC, datetime
from typing import TypedDict, Unpack

import jsonschema
import pytest

from bee_trace.events.model import MemoryAccessEvent, ProcessInfo
from bee_trace.outputs import jsonl, text

WHEN = datetime(2026, 12, 4, 15, 30, 1, 123456, tzinfo=UTC)
PROCESS = ProcessInfo(pid=3001, tid=3001, ppid=900, uid=1000, comm=b"gdb")


class MemoryFields(TypedDict, total=False):
    timestamp: datetime
    process: ProcessInfo
    operation: str
    request: str | None
    access: str
    target_pid: int
    target_comm: bytes
    result: int
    action: str


def make_event(**changes: Unpack[MemoryFields]) -> MemoryAccessEvent:
    fields: MemoryFields = {
        "timestamp": WHEN,
        "process": PROCESS,
        "operation": "ptrace",
        "request": "PTRACE_PEEKDATA",
        "access": "read",
        "target_pid": 1234,
        "target_comm": b"sleep",
        "result": 0,
        "action": "allowed",
    }
    fields.update(changes)
    return MemoryAccessEvent(**fields)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = jsonl.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def record_of(event: MemoryAccessEvent) -> dict[str, object]:
    record: dict[str, object] = json.loads(jsonl.format_event(event))
    return record


# -- text --------------------------------------------------------------------------------


def test_text_line_golden() -> None:
    assert text.format_event(make_event()) == (
        "Event: Memory access time=2026-12-04T15:30:01.123456Z pid=3001 tid=3001 ppid=900 "
        "uid=1000 comm=gdb operation=ptrace request=PTRACE_PEEKDATA access=read "
        "target_pid=1234 target_comm=sleep result=0 action=allowed"
    )


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


def test_json_line_golden(validator: jsonschema.Draft202012Validator) -> None:
    line = jsonl.format_event(make_event())
    assert line == (
        '{"type":"memory_access","category":"Memory access",'
        '"timestamp":"2026-12-04T15:30:01.123456Z","pid":3001,"tid":3001,"ppid":900,'
        '"uid":1000,"comm":"gdb","operation":"ptrace","request":"PTRACE_PEEKDATA",'
        '"access":"read","target_pid":1234,"target_comm":"sleep","result":0,'
        '"result_name":null,"action":"allowed"}'
    )
    validator.validate(json.loads(line))


@pytest.mark.parametrize(
    "event",
    [
        make_event(request="PTRACE_ATTACH", access="attach"),
        make_event(request="PTRACE_SEIZE", access="attach", action="killed"),
        make_event(request="PTRACE_POKEDATA", access="write", result=-errno.EPERM),
        make_event(operation="process_vm_readv", request=None, result=65536),
        make_event(operation="process_vm_writev", request=None, access="write"),
        make_event(operation="proc_mem", request=None, access="read_write", result=5),
        make_event(operation="proc_mem", request=None, result=-errno.EACCES),
    ],
)
def test_json_variants_validate(
    validator: jsonschema.Draft202012Validator, event: MemoryAccessEvent
) -> None:
    validator.validate(record_of(event))


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


def test_schema_rejects_extra_field(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_event())
    record["extra"] = 1
    assert not validator.is_valid(record)


@pytest.mark.parametrize("field", list(record_of(make_event())))
def test_schema_rejects_missing_field(
    validator: jsonschema.Draft202012Validator, field: str
) -> None:
    record = record_of(make_event())
    del record[field]
    assert not validator.is_valid(record)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "network_connection"),
        ("category", "Memory"),
        ("operation", "mmap"),
        ("operation", "PTRACE"),
        ("request", "peekdata"),
        ("request", None),  # operation is ptrace
        ("access", "execute"),
        ("access", "rw"),
        ("target_pid", -1),
        ("target_pid", 1 << 32),
        ("target_comm", None),
        ("result_name", "EPERM"),  # the call succeeded
        ("action", "denied"),
        ("action", "blocked"),
    ],
)
def test_schema_rejects_bad_values(
    validator: jsonschema.Draft202012Validator, field: str, value: object
) -> None:
    record = record_of(make_event())
    record[field] = value
    assert not validator.is_valid(record)


def test_schema_rejects_request_without_ptrace(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_event(operation="process_vm_readv", request=None))
    assert validator.is_valid(record)
    record["request"] = "PTRACE_PEEKDATA"
    assert not validator.is_valid(record)


def test_schema_requires_errno_name_on_failure(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_event(result=-errno.EPERM))
    record["result_name"] = None
    assert not validator.is_valid(record)
