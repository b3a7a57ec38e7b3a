"""What every event type shares in the outputs: golden lines, schema checks, dispatch."""

from __future__ import annotations

import errno
import json
import typing
from typing import cast

import pytest

from bee_trace.events.model import (
    Event,
    FileAccessEvent,
    MemoryAccessEvent,
    NetworkConnectionEvent,
)
from bee_trace.outputs import jsonl, text
from tests.unit.builders import (
    FILE_EVENT,
    MEMORY_EVENT,
    NETWORK_EVENT,
    file_event,
    memory_event,
    network_denied,
    network_event,
    record_of,
)

if typing.TYPE_CHECKING:
    import jsonschema

EVENT_TYPES = typing.get_args(Event)
DEFAULTS: list[Event] = [FILE_EVENT, NETWORK_EVENT, MEMORY_EVENT]


# -- golden lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            FILE_EVENT,
            (
                "Event: File access time=2026-12-04T15:30:01.123456Z pid=1234 tid=1234 ppid=1 "
                "uid=1000 comm=cat syscall=openat path=/home/u/.ssh/id_rsa "
                "flags=O_RDONLY|O_CLOEXEC result=3 rule=id_rsa"
            ),
        ),
        (
            NETWORK_EVENT,
            (
                "Event: Network connection time=2026-12-04T15:30:01.123456Z "
                "pid=2001 tid=2002 ppid=1 uid=1000 comm=curl syscall=connect family=AF_INET "
                "protocol=tcp daddr=127.0.0.1 "
                "dport=8080 result=0 count=1 blocked=false action=allowed"
            ),
        ),
        (
            MEMORY_EVENT,
            (
                "Event: Memory access time=2026-12-04T15:30:01.123456Z pid=3001 tid=3001 ppid=900 "
                "uid=1000 comm=gdb operation=ptrace request=PTRACE_PEEKDATA access=read "
                "target_pid=1234 target_comm=sleep result=0 action=allowed"
            ),
        ),
    ],
    ids=[event.type for event in DEFAULTS],
)
def test_text_line_golden(event: Event, line: str) -> None:
    assert text.format_event(event) == line


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            FILE_EVENT,
            (
                '{"type":"file_access","category":"File access",'
                '"timestamp":"2026-12-04T15:30:01.123456Z","pid":1234,"tid":1234,"ppid":1,"uid":1000,'
                '"comm":"cat","syscall":"openat","path":"/home/u/.ssh/id_rsa","resolved":true,'
                '"flags":524288,"flag_names":["O_RDONLY","O_CLOEXEC"],"result":3,"result_name":null,'
                '"rule":"id_rsa"}'
            ),
        ),
        (
            NETWORK_EVENT,
            (
                '{"type":"network_connection","category":"Network connection",'
                '"timestamp":"2026-12-04T15:30:01.123456Z","pid":2001,"tid":2002,"ppid":1,"uid":1000,'
                '"comm":"curl","syscall":"connect","family":"AF_INET","protocol":"tcp",'
                '"daddr":"127.0.0.1","dport":8080,"result":0,"result_name":null,"count":1,'
                '"blocked":false,"rule":null,"action":"allowed"}'
            ),
        ),
        (
            MEMORY_EVENT,
            (
                '{"type":"memory_access","category":"Memory access",'
                '"timestamp":"2026-12-04T15:30:01.123456Z","pid":3001,"tid":3001,"ppid":900,'
                '"uid":1000,"comm":"gdb","operation":"ptrace","request":"PTRACE_PEEKDATA",'
                '"access":"read","target_pid":1234,"target_comm":"sleep","result":0,'
                '"result_name":null,"action":"allowed"}'
            ),
        ),
    ],
    ids=[event.type for event in DEFAULTS],
)
def test_json_line_golden(
    validator: jsonschema.Draft202012Validator, event: Event, line: str
) -> None:
    assert jsonl.format_event(event) == line
    validator.validate(json.loads(line))


@pytest.mark.parametrize(
    "event",
    [
        network_event(result=-errno.EINPROGRESS),
        network_event(result=-errno.ECONNREFUSED, dport=0),
        network_event(family="AF_INET6", daddr="::1", dport=65535),
        network_event(family="AF_INET6", daddr="fe80::1:2ff:fe03:405"),
        network_event(syscall="sendmsg", protocol="udp", daddr="255.255.255.255", count=1000),
        network_event(syscall="connect", protocol="udp", daddr="0.0.0.0"),  # noqa: S104
        network_denied(action="allowed", result=0),
        memory_event(request="PTRACE_ATTACH", access="attach"),
        memory_event(request="PTRACE_SEIZE", access="attach", action="killed"),
        memory_event(request="PTRACE_POKEDATA", access="write", result=-errno.EPERM),
        memory_event(operation="process_vm_readv", request=None, result=65536),
        memory_event(operation="process_vm_writev", request=None, access="write"),
        memory_event(operation="proc_mem", request=None, access="read_write", result=5),
        memory_event(operation="proc_mem", request=None, result=-errno.EACCES),
    ],
)
def test_json_variants_validate(validator: jsonschema.Draft202012Validator, event: Event) -> None:
    validator.validate(record_of(event))


# -- the schema --------------------------------------------------------------------------


@pytest.mark.parametrize("event", DEFAULTS, ids=[event.type for event in DEFAULTS])
def test_schema_rejects_extra_field(
    validator: jsonschema.Draft202012Validator, event: Event
) -> None:
    record = record_of(event)
    record["extra"] = 1
    assert not validator.is_valid(record)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        pytest.param(event, field, id=f"{event.type}-{field}")
        for event in DEFAULTS
        for field in record_of(event)
    ],
)
def test_schema_rejects_missing_field(
    validator: jsonschema.Draft202012Validator, event: Event, field: str
) -> None:
    record = record_of(event)
    del record[field]
    assert not validator.is_valid(record)


BAD_VALUES: dict[Event, list[tuple[str, object]]] = {
    FILE_EVENT: [
        ("type", "network_connection"),
        ("category", "File"),
        ("timestamp", "2026-12-04T15:30:01Z"),
        ("timestamp", "2026-12-04T15:30:01.123456+00:00"),
        ("timestamp", "2026-13-04T15:30:01.123456Z"),
        ("pid", -1),
        ("uid", "1000"),
        ("resolved", "true"),
        ("flags", -1),
        ("flag_names", []),
        ("flag_names", ["o_rdonly"]),
        ("result_name", "ENOENT"),  # the open succeeded
        ("comm", None),
    ],
    NETWORK_EVENT: [
        ("type", "file_access"),
        ("category", "Network"),
        ("syscall", "accept"),
        ("syscall", "CONNECT"),
        ("family", "AF_UNIX"),
        ("family", "inet"),
        ("protocol", "TCP"),
        ("protocol", "sctp"),
        ("daddr", "localhost"),
        ("daddr", "127.0.0.256"),
        ("daddr", "127.000.0.1"),
        ("daddr", "::1"),  # an IPv6 address with family AF_INET
        ("daddr", ""),
        ("dport", -1),
        ("dport", 65536),
        ("dport", "8080"),
        ("result", 3),
        ("result_name", "EPERM"),  # the connect succeeded
        ("count", 0),
        ("blocked", "false"),
        ("rule", "127.0.0.0/8"),  # a rule without a match
        ("action", "denied"),  # refused without a match
        ("action", "blocked"),
        ("action", "killed"),
    ],
    MEMORY_EVENT: [
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
}


@pytest.mark.parametrize(
    ("event", "field", "value"),
    [
        pytest.param(event, field, value, id=f"{event.type}-{field}-{value!r}")
        for event, changes in BAD_VALUES.items()
        for field, value in changes
    ],
)
def test_schema_rejects_bad_values(
    validator: jsonschema.Draft202012Validator, event: Event, field: str, value: object
) -> None:
    record = record_of(event)
    record[field] = value
    assert not validator.is_valid(record)


@pytest.mark.parametrize(
    "event",
    [
        file_event(result=-2),
        network_event(result=-errno.ECONNREFUSED),
        memory_event(result=-errno.EPERM),
    ],
    ids=[event.type for event in DEFAULTS],
)
def test_schema_requires_errno_name_on_failure(
    validator: jsonschema.Draft202012Validator, event: Event
) -> None:
    record = record_of(event)
    record["result_name"] = None
    assert not validator.is_valid(record)


# -- dispatch on the event's class -------------------------------------------------------


def test_every_event_type_renders_in_both_formats(
    validator: jsonschema.Draft202012Validator,
) -> None:
    process = NETWORK_EVENT.process
    samples: dict[type[Event], Event] = {
        FileAccessEvent: file_event(
            process=process,
            syscall="openat",
            path=b"/etc/shadow",
            flags=0,
            result=3,
            resolved=True,
            rule="/etc/shadow",
        ),
        NetworkConnectionEvent: network_event(),
        MemoryAccessEvent: memory_event(
            process=process,
            operation="process_vm_readv",
            request=None,
            access="read",
            target_pid=7,
            target_comm=b"sleep",
            result=4096,
            action="allowed",
        ),
    }
    assert set(samples) == set(EVENT_TYPES)
    for event_type, event in samples.items():
        line = text.format_event(event)
        assert line.startswith(f"Event: {event_type.category} time=")
        record = json.loads(jsonl.format_event(event))
        assert record["type"] == event_type.type
        validator.validate(record)


def test_schema_has_one_definition_per_event_type() -> None:
    schema = jsonl.load_schema()
    refs = {entry["$ref"] for entry in schema["oneOf"]}
    assert refs == {f"#/$defs/{event_type.type}" for event_type in EVENT_TYPES}
    for event_type in EVENT_TYPES:
        properties = schema["$defs"][event_type.type]["properties"]
        assert properties["type"] == {"const": event_type.type}
        assert properties["category"] == {"const": event_type.category}


def test_an_unknown_event_type_is_a_bug() -> None:
    not_an_event = cast("Event", object())  # what the type checker would refuse to pass
    with pytest.raises(TypeError, match="no text rendering for object"):
        text.format_event(not_an_event)
    with pytest.raises(TypeError, match="no JSON rendering for object"):
        jsonl.format_event(not_an_event)
