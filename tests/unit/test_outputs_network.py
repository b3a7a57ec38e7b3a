"""Network connection events in the text and JSON formats, their schema, and type dispatch."""

from __future__ import annotations

import errno
import json
import typing
from datetime import UTC, datetime
from typing import TypedDict, Unpack, cast

import jsonschema
import pytest

from bee_trace.events.model import (
    Event,
    FileAccessEvent,
    MemoryAccessEvent,
    NetworkConnectionEvent,
    ProcessInfo,
)
from bee_trace.outputs import jsonl, text

WHEN = datetime(2026, 12, 4, 15, 30, 1, 123456, tzinfo=UTC)
PROCESS = ProcessInfo(pid=2001, tid=2002, ppid=1, uid=1000, comm=b"curl")


class NetworkFields(TypedDict, total=False):
    timestamp: datetime
    process: ProcessInfo
    syscall: str
    family: str
    protocol: str
    daddr: str
    dport: int
    result: int
    count: int
    blocked: bool
    rule: str | None
    action: str


def make_event(**changes: Unpack[NetworkFields]) -> NetworkConnectionEvent:
    fields: NetworkFields = {
        "timestamp": WHEN,
        "process": PROCESS,
        "syscall": "connect",
        "family": "AF_INET",
        "protocol": "tcp",
        "daddr": "127.0.0.1",
        "dport": 8080,
        "result": 0,
        "count": 1,
        "blocked": False,
        "rule": None,
        "action": "allowed",
    }
    fields.update(changes)
    return NetworkConnectionEvent(**fields)


def make_denied(**changes: Unpack[NetworkFields]) -> NetworkConnectionEvent:
    fields: NetworkFields = {
        "daddr": "127.77.0.9",
        "result": -errno.EPERM,
        "blocked": True,
        "rule": "127.77.0.0/16",
        "action": "denied",
    }
    fields.update(changes)
    return make_event(**fields)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = jsonl.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def record_of(event: NetworkConnectionEvent) -> dict[str, object]:
    record: dict[str, object] = json.loads(jsonl.format_event(event))
    return record


# -- text --------------------------------------------------------------------------------


def test_text_line_golden() -> None:
    assert text.format_event(make_event()) == (
        "Event: Network connection time=2026-12-04T15:30:01.123456Z pid=2001 tid=2002 ppid=1 "
        "uid=1000 comm=curl syscall=connect family=AF_INET protocol=tcp daddr=127.0.0.1 "
        "dport=8080 result=0 count=1 blocked=false action=allowed"
    )


def test_text_line_denied_golden() -> None:
    assert text.format_event(make_denied()) == (
        "Event: Network connection time=2026-12-04T15:30:01.123456Z pid=2001 tid=2002 ppid=1 "
        "uid=1000 comm=curl syscall=connect family=AF_INET protocol=tcp daddr=127.77.0.9 "
        "dport=8080 result=EPERM count=1 blocked=true rule=127.77.0.0/16 action=denied"
    )


def test_text_line_udp_over_ipv6_golden() -> None:
    event = make_event(
        syscall="sendto",
        family="AF_INET6",
        protocol="udp",
        daddr="2001:db8::53",
        dport=53,
        count=17,
    )
    assert text.format_event(event) == (
        "Event: Network connection time=2026-12-04T15:30:01.123456Z pid=2001 tid=2002 ppid=1 "
        "uid=1000 comm=curl syscall=sendto family=AF_INET6 protocol=udp daddr=2001:db8::53 "
        "dport=53 result=0 count=17 blocked=false action=allowed"
    )


@pytest.mark.parametrize(
    ("result", "name"),
    [
        (0, "0"),
        (-errno.EINPROGRESS, "EINPROGRESS"),
        (-errno.ECONNREFUSED, "ECONNREFUSED"),
        (-errno.EPERM, "EPERM"),
        (-errno.ENETUNREACH, "ENETUNREACH"),
    ],
)
def test_text_result(result: int, name: str) -> None:
    assert f" result={name} count=1 " in text.format_event(make_event(result=result))


def test_text_blocked_but_allowed_names_the_rule() -> None:
    # monitored, not enforced: the destination matched but the connection went ahead
    event = make_denied(result=0, action="allowed")
    assert " result=0 count=1 blocked=true rule=127.77.0.0/16 action=allowed" in (
        text.format_event(event)
    )


def test_text_hostile_comm_stays_one_line() -> None:
    event = make_event(
        process=ProcessInfo(pid=1, tid=1, ppid=0, uid=0, comm=b"c\nEvent: x\x1b[2J \xff")
    )
    line = text.format_event(event)
    assert len(line.splitlines()) == 1
    assert "\x1b" not in line
    assert ' comm="c\\nEvent: x\\x1b[2J \\xff" syscall=connect ' in line


def test_text_rule_is_escaped_and_quoted() -> None:
    line = text.format_event(make_denied(rule="10.0.0.0/8 # lab\n"))
    assert ' rule="10.0.0.0/8 # lab\\n" action=denied' in line


# -- JSON --------------------------------------------------------------------------------


def test_json_line_golden(validator: jsonschema.Draft202012Validator) -> None:
    line = jsonl.format_event(make_event())
    assert line == (
        '{"type":"network_connection","category":"Network connection",'
        '"timestamp":"2026-12-04T15:30:01.123456Z","pid":2001,"tid":2002,"ppid":1,"uid":1000,'
        '"comm":"curl","syscall":"connect","family":"AF_INET","protocol":"tcp",'
        '"daddr":"127.0.0.1","dport":8080,"result":0,"result_name":null,"count":1,'
        '"blocked":false,"rule":null,"action":"allowed"}'
    )
    validator.validate(json.loads(line))


def test_json_denied(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_denied())
    assert record["result"] == -errno.EPERM
    assert record["result_name"] == "EPERM"
    assert record["blocked"] is True
    assert record["rule"] == "127.77.0.0/16"
    assert record["action"] == "denied"
    validator.validate(record)


@pytest.mark.parametrize(
    "event",
    [
        make_event(result=-errno.EINPROGRESS),
        make_event(result=-errno.ECONNREFUSED, dport=0),
        make_event(family="AF_INET6", daddr="::1", dport=65535),
        make_event(family="AF_INET6", daddr="fe80::1:2ff:fe03:405"),
        make_event(syscall="sendmsg", protocol="udp", daddr="255.255.255.255", count=1000),
        make_event(syscall="connect", protocol="udp", daddr="0.0.0.0"),  # noqa: S104
        make_denied(action="allowed", result=0),
    ],
)
def test_json_variants_validate(
    validator: jsonschema.Draft202012Validator, event: NetworkConnectionEvent
) -> None:
    validator.validate(record_of(event))


def test_json_hostile_comm_stays_one_line(validator: jsonschema.Draft202012Validator) -> None:
    comm = b"c\nx\x1b[2J\xc2\x9b\xe2\x80\xae\xff"
    event = make_event(process=ProcessInfo(pid=1, tid=1, ppid=0, uid=0, comm=comm))
    line = jsonl.format_event(event)
    assert len(line.splitlines()) == 1
    for raw in ("\n", "\x1b", "\x9b", "\u202e"):
        assert raw not in line
    record = json.loads(line)
    assert record["comm"] == "c\nx\x1b[2J\x9b\u202e\\xff"
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
)
def test_schema_rejects_bad_values(
    validator: jsonschema.Draft202012Validator, field: str, value: object
) -> None:
    record = record_of(make_event())
    record[field] = value
    assert not validator.is_valid(record)


@pytest.mark.parametrize(
    "daddr",
    ["127.0.0.1", "2001:DB8::1", "fe80::1%eth0", "2001:db8::g", "1:2:3:4:5:6:7:8:9"],
)
def test_schema_rejects_bad_ipv6(validator: jsonschema.Draft202012Validator, daddr: str) -> None:
    record = record_of(make_event(family="AF_INET6", daddr="::1"))
    record["daddr"] = daddr
    assert not validator.is_valid(record)


def test_schema_requires_errno_name_on_failure(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_event(result=-errno.ECONNREFUSED))
    record["result_name"] = None
    assert not validator.is_valid(record)


def test_schema_requires_rule_when_blocked(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_denied())
    record["rule"] = None
    assert not validator.is_valid(record)


def test_schema_requires_count_one_for_connect(validator: jsonschema.Draft202012Validator) -> None:
    assert validator.is_valid(record_of(make_event(syscall="sendto", protocol="udp", count=5)))
    assert not validator.is_valid(record_of(make_event(count=5)))


# -- dispatch on the event's class -------------------------------------------------------


EVENT_TYPES = typing.get_args(Event)


def test_every_event_type_renders_in_both_formats(
    validator: jsonschema.Draft202012Validator,
) -> None:
    samples: dict[type[Event], Event] = {
        FileAccessEvent: FileAccessEvent(
            timestamp=WHEN,
            process=PROCESS,
            syscall="openat",
            path=b"/etc/shadow",
            flags=0,
            result=3,
            resolved=True,
            rule="/etc/shadow",
        ),
        NetworkConnectionEvent: make_event(),
        MemoryAccessEvent: MemoryAccessEvent(
            timestamp=WHEN,
            process=PROCESS,
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
