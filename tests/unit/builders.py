"""What unit tests build their inputs from: events, policy texts, probe contexts."""

from __future__ import annotations

import dataclasses
import errno
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from bee_trace.events.model import (
    Event,
    FileAccessEvent,
    MemoryAccessEvent,
    NetworkConnectionEvent,
    ProcessInfo,
)
from bee_trace.outputs import jsonl
from bee_trace.policy import Policy, PolicyError, parse_policy
from bee_trace.probes import ProbeContext

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T", ProcessInfo, FileAccessEvent, NetworkConnectionEvent, MemoryAccessEvent)

O_CLOEXEC = 0o2000000
WHEN = datetime(2026, 12, 4, 15, 30, 1, 123456, tzinfo=UTC)
PROCESS_FIELDS = tuple(field.name for field in dataclasses.fields(ProcessInfo))

FILE_EVENT = FileAccessEvent(
    timestamp=WHEN,
    process=ProcessInfo(pid=1234, tid=1234, ppid=1, uid=1000, comm=b"cat"),
    syscall="openat",
    path=b"/home/u/.ssh/id_rsa",
    flags=O_CLOEXEC,
    result=3,
    resolved=True,
    rule="id_rsa",
)
NETWORK_EVENT = NetworkConnectionEvent(
    timestamp=WHEN,
    process=ProcessInfo(pid=2001, tid=2002, ppid=1, uid=1000, comm=b"curl"),
    syscall="connect",
    family="AF_INET",
    protocol="tcp",
    daddr="127.0.0.1",
    dport=8080,
    result=0,
    count=1,
    blocked=False,
    rule=None,
    action="allowed",
)
MEMORY_EVENT = MemoryAccessEvent(
    timestamp=WHEN,
    process=ProcessInfo(pid=3001, tid=3001, ppid=900, uid=1000, comm=b"gdb"),
    operation="ptrace",
    request="PTRACE_PEEKDATA",
    access="read",
    target_pid=1234,
    target_comm=b"sleep",
    result=0,
    action="allowed",
)


def replaced(base: T, changes: Mapping[str, object]) -> T:
    """A copy of base with changes; a field it does not have is a TypeError."""
    copy: T = dataclasses.replace(cast("Any", base), **changes)
    return copy


def file_event(**changes: object) -> FileAccessEvent:
    """FILE_EVENT with changes; pid, tid, ppid, uid and comm change its own new process."""
    process_changes = {name: changes.pop(name) for name in PROCESS_FIELDS if name in changes}
    process = replaced(FILE_EVENT.process, process_changes)
    return replaced(FILE_EVENT, {"process": process, **changes})


def network_event(**changes: object) -> NetworkConnectionEvent:
    """NETWORK_EVENT with changes."""
    return replaced(NETWORK_EVENT, changes)


def network_denied(**changes: object) -> NetworkConnectionEvent:
    """A connection refused by the rule 127.77.0.0/16, with changes."""
    denied: dict[str, object] = {
        "daddr": "127.77.0.9",
        "result": -errno.EPERM,
        "blocked": True,
        "rule": "127.77.0.0/16",
        "action": "denied",
    }
    return network_event(**{**denied, **changes})


def memory_event(**changes: object) -> MemoryAccessEvent:
    """MEMORY_EVENT with changes."""
    return replaced(MEMORY_EVENT, changes)


def record_of(event: Event) -> dict[str, object]:
    """The event's JSON line, parsed."""
    record: dict[str, object] = json.loads(jsonl.format_event(event))
    return record


# -- policies ----------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = REPO / ".github" / "security.yml"
SOURCE = "p.yml"


def parse(text: str) -> Policy:
    """The policy in an indented text, read as the file p.yml."""
    return parse_policy(textwrap.dedent(text), SOURCE)


def policy_error(text: str) -> PolicyError:
    """What parse refuses the text with."""
    with pytest.raises(PolicyError) as caught:
        parse(text)
    return caught.value


def problems(text: str) -> list[str]:
    """The problems parse finds in the text."""
    return policy_error(text).problems


def only_problem(text: str) -> str:
    """The one problem parse finds in the text."""
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def listed(section: str, key: str, *entries: str) -> str:
    """A policy whose section.key lists ``entries``, one per line from line 3."""
    lines = "".join(f"    - {entry}\n" for entry in entries)
    return f"{section}:\n  {key}:\n{lines}"


# -- probes ------------------------------------------------------------------------------

BOOT_TO_UTC_NS = 1_790_000_000 * 1_000_000_000
SELF_PID = 777
# above the largest pid_max (2**22): never a live process
DEAD_PID = 2**22 + 123


def probe_context(policy: str, *, enforce: bool = False) -> ProbeContext:
    """What a probe is made with: the policy text, a pid of ours and a boot clock."""
    return ProbeContext(
        policy=parse_policy(policy, "test"),
        self_pid=SELF_PID,
        boot_to_utc_ns=BOOT_TO_UTC_NS,
        enforce=enforce,
    )
