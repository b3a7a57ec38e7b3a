"""Network connection events in the text and JSON formats, and their schema."""

from __future__ import annotations

import errno
import json
from typing import TYPE_CHECKING

import pytest

from bee_trace.events.model import ProcessInfo
from bee_trace.outputs import jsonl, text
from tests.unit.builders import network_denied as make_denied
from tests.unit.builders import network_event as make_event
from tests.unit.builders import record_of

if TYPE_CHECKING:
    import jsonschema


# -- text --------------------------------------------------------------------------------


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


def test_json_denied(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_denied())
    assert record["result"] == -errno.EPERM
    assert record["result_name"] == "EPERM"
    assert record["blocked"] is True
    assert record["rule"] == "127.77.0.0/16"
    assert record["action"] == "denied"
    validator.validate(record)


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


@pytest.mark.parametrize(
    "daddr",
    ["127.0.0.1", "2001:DB8::1", "fe80::1%eth0", "2001:db8::g", "1:2:3:4:5:6:7:8:9"],
)
def test_schema_rejects_bad_ipv6(validator: jsonschema.Draft202012Validator, daddr: str) -> None:
    record = record_of(make_event(family="AF_INET6", daddr="::1"))
    record["daddr"] = daddr
    assert not validator.is_valid(record)


def test_schema_requires_rule_when_blocked(validator: jsonschema.Draft202012Validator) -> None:
    record = record_of(make_denied())
    record["rule"] = None
    assert not validator.is_valid(record)


def test_schema_requires_count_one_for_connect(validator: jsonschema.Draft202012Validator) -> None:
    assert validator.is_valid(record_of(make_event(syscall="sendto", protocol="udp", count=5)))
    assert not validator.is_valid(record_of(make_event(count=5)))
