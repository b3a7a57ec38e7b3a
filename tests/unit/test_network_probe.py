"""NetworkProbe without a kernel: records built with the ctypes mirrors, maps faked."""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bee_trace.events.records import (
    EventKind,
    LpmV4,
    LpmV6,
    NetConfig,
    NetEvent,
    UdpKey,
    UdpValue,
)
from bee_trace.host.cgroup import CgroupUnavailableError
from bee_trace.probes import network
from bee_trace.probes.network import (
    AF_INET,
    AF_INET6,
    UDP_WINDOW_NS,
    NetSyscall,
    NetworkProbe,
)
from tests.fakes import FakeObject, bpf
from tests.unit.builders import BOOT_TO_UTC_NS, DEAD_PID, SELF_PID, probe_context

if TYPE_CHECKING:
    from bee_trace.events.model import NetworkConnectionEvent

TCP, UDP = 6, 17
LIVE_PID = os.getpid()
OUR_COMM = Path("/proc/self/comm").read_bytes().rstrip(b"\n")

POLICY = """\
version: 1
network:
  blocked_ips:
    - 203.0.113.0/24
    - 203.0.113.7
    - "2001:db8::/32"
"""


def make_probe(policy: str = POLICY, *, enforce: bool = False) -> NetworkProbe:
    return NetworkProbe(probe_context(policy, enforce=enforce))


@pytest.fixture
def probe() -> NetworkProbe:
    return make_probe()


def record(  # noqa: PLR0913 - one keyword per field a test may change
    *,
    daddr: str = "192.0.2.1",
    dport: int = 443,
    protocol: int = TCP,
    syscall: int = NetSyscall.CONNECT,
    result: int = 0,
    total: int = 0,
    blocked: bool = False,
    rule: int = 0,
    pid: int = 4001,
    family: int | None = None,
    ts_boot_ns: int = 5_123_456_789,
) -> NetEvent:
    addr = ipaddress.ip_address(daddr)
    rec = NetEvent()
    rec.hdr.kind = EventKind.NETWORK
    rec.hdr.size = ctypes.sizeof(NetEvent)
    rec.hdr.ts_boot_ns = ts_boot_ns
    rec.hdr.pid = pid
    rec.hdr.tid = pid + 1
    rec.hdr.ppid = 1
    rec.hdr.uid = 1000
    rec.hdr.comm = b"curl"
    rec.result = result
    rec.rule = rule
    rec.total = total
    rec.family = family if family is not None else (AF_INET if addr.version == 4 else AF_INET6)
    rec.dport = dport
    rec.protocol = protocol
    rec.syscall = syscall
    rec.blocked = int(blocked)
    packed = addr.packed
    rec.daddr[: len(packed)] = list(packed)
    return rec


def udp(**changes: object) -> NetEvent:
    fields: dict[str, object] = {"protocol": UDP, "syscall": NetSyscall.SENDTO, "dport": 53}
    fields.update(changes)
    return record(**fields)  # type: ignore[arg-type]


def decode(probe: NetworkProbe, rec: NetEvent) -> NetworkConnectionEvent | None:
    return probe.decode(rec.hdr, bytes(rec))


# decoding


def test_decode_ipv4_connect(probe: NetworkProbe) -> None:
    event = decode(probe, record(daddr="192.0.2.1", dport=443))
    assert event is not None
    assert event.daddr == "192.0.2.1"
    assert event.dport == 443
    assert event.family == "AF_INET"
    assert event.protocol == "tcp"
    assert event.syscall == "connect"
    assert event.count == 1
    assert event.blocked is False
    assert event.rule is None
    assert event.action == "allowed"
    assert event.result == 0
    assert event.process.pid == 4001
    assert event.process.tid == 4002
    assert event.process.ppid == 1
    assert event.process.uid == 1000
    assert event.process.comm == b"curl"


def test_decode_timestamp_is_boot_time_plus_offset(probe: NetworkProbe) -> None:
    event = decode(probe, record(ts_boot_ns=5_123_456_789))
    assert event is not None
    assert event.timestamp == datetime.fromtimestamp(1_790_000_005, tz=UTC).replace(
        microsecond=123_456
    )


@pytest.mark.parametrize(
    ("daddr", "text"),
    [
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::1", "::1"),
        ("fe80::1:2:3:4", "fe80::1:2:3:4"),
    ],
)
def test_decode_ipv6_address_text(probe: NetworkProbe, daddr: str, text: str) -> None:
    event = decode(probe, record(daddr=daddr))
    assert event is not None
    assert event.family == "AF_INET6"
    assert event.daddr == text


def test_decode_ipv4_reads_only_the_first_four_bytes(probe: NetworkProbe) -> None:
    rec = record(daddr="10.1.2.3")
    rec.daddr[4:] = [0xFF] * 12
    event = decode(probe, rec)
    assert event is not None
    assert event.daddr == "10.1.2.3"


@pytest.mark.parametrize(
    ("protocol", "syscall", "names"),
    [
        (TCP, NetSyscall.CONNECT, ("tcp", "connect")),
        (UDP, NetSyscall.CONNECT, ("udp", "connect")),
        (UDP, NetSyscall.SENDTO, ("udp", "sendto")),
        (UDP, NetSyscall.SENDMSG, ("udp", "sendmsg")),
    ],
)
def test_decode_protocol_and_syscall_names(
    probe: NetworkProbe, protocol: int, syscall: int, names: tuple[str, str]
) -> None:
    event = decode(probe, record(protocol=protocol, syscall=syscall))
    assert event is not None
    assert (event.protocol, event.syscall) == names


@pytest.mark.parametrize(
    ("daddr", "rule", "raw"),
    [("203.0.113.9", 0, "203.0.113.0/24"), ("203.0.113.7", 1, "203.0.113.7")],
)
def test_decode_blocked_names_the_rule(
    probe: NetworkProbe, daddr: str, rule: int, raw: str
) -> None:
    event = decode(probe, record(daddr=daddr, blocked=True, rule=rule))
    assert event is not None
    assert event.blocked is True
    assert event.rule == raw
    assert event.action == "allowed"


def test_decode_blocked_ipv6_rule(probe: NetworkProbe) -> None:
    event = decode(probe, record(daddr="2001:db8::5", blocked=True, rule=2))
    assert event is not None
    assert event.rule == "2001:db8::/32"


def test_decode_rule_ignored_when_not_blocked(probe: NetworkProbe) -> None:
    event = decode(probe, record(blocked=False, rule=1))
    assert event is not None
    assert event.rule is None


def test_decode_rule_index_out_of_range_gives_no_rule(probe: NetworkProbe) -> None:
    event = decode(probe, record(daddr="203.0.113.9", blocked=True, rule=99))
    assert event is not None
    assert event.blocked is True
    assert event.rule is None


@pytest.mark.parametrize(
    ("blocked", "enforcing", "result", "action"),
    [
        (True, True, -errno.EPERM, "denied"),
        (True, False, -errno.EPERM, "allowed"),
        (True, True, 0, "allowed"),
        (True, True, -errno.ECONNREFUSED, "allowed"),
        (True, True, -errno.EACCES, "allowed"),
        (False, True, -errno.EPERM, "allowed"),
        (False, False, 0, "allowed"),
    ],
)
def test_decode_action(
    probe: NetworkProbe, *, blocked: bool, enforcing: bool, result: int, action: str
) -> None:
    probe.enforcing = enforcing
    event = decode(probe, record(daddr="203.0.113.9", blocked=blocked, result=result))
    assert event is not None
    assert event.action == action
    assert event.result == result


def test_decode_nonblocking_connect_result(probe: NetworkProbe) -> None:
    event = decode(probe, record(result=-errno.EINPROGRESS))
    assert event is not None
    assert event.result == -errno.EINPROGRESS


def test_decode_connect_count_is_one_every_time(probe: NetworkProbe) -> None:
    for _ in range(3):
        event = decode(probe, record())
        assert event is not None
        assert event.count == 1


def test_decode_unaggregated_udp_send_counts_one(probe: NetworkProbe) -> None:
    # total 0: the kernel's table was full and this send came on its own
    for _ in range(2):
        event = decode(probe, udp(total=0))
        assert event is not None
        assert event.count == 1


def test_decode_udp_totals_become_counts(probe: NetworkProbe) -> None:
    first = decode(probe, udp(total=1))
    assert first is not None
    assert first.count == 1
    later = decode(probe, udp(total=5))
    assert later is not None
    assert later.count == 4
    # stale: a total already accounted for
    assert decode(probe, udp(total=5)) is None
    assert decode(probe, udp(total=3)) is None
    again = decode(probe, udp(total=6))
    assert again is not None
    assert again.count == 1


def test_decode_udp_first_seen_with_a_total_counts_it_all(probe: NetworkProbe) -> None:
    # the first event (total 1) was dropped: the next one covers every send
    event = decode(probe, udp(total=7))
    assert event is not None
    assert event.count == 7


@pytest.mark.parametrize(
    "other",
    [
        {"pid": 4999},
        {"daddr": "192.0.2.2"},
        {"dport": 5353},
        {"result": -errno.ENETUNREACH},
        {"syscall": NetSyscall.SENDMSG},
        {"daddr": "2001:db8::1"},
    ],
    ids=["pid", "daddr", "dport", "result", "syscall", "family"],
)
def test_decode_udp_totals_are_kept_per_aggregate(
    probe: NetworkProbe, other: dict[str, object]
) -> None:
    first = decode(probe, udp(total=5))
    assert first is not None
    assert first.count == 5
    event = decode(probe, udp(total=2, **other))
    assert event is not None
    assert event.count == 2


def test_decode_tid_is_not_part_of_the_aggregate(probe: NetworkProbe) -> None:
    decode(probe, udp(total=3))
    rec = udp(total=4)
    rec.hdr.tid = 9999
    event = decode(probe, rec)
    assert event is not None
    assert event.count == 1


def test_decode_accepts_a_longer_record(probe: NetworkProbe) -> None:
    rec = record()
    event = probe.decode(rec.hdr, bytes(rec) + b"\0" * 8)
    assert event is not None
    assert event.daddr == "192.0.2.1"


@pytest.mark.parametrize("cut", [0, 1, ctypes.sizeof(NetEvent) - 1])
def test_decode_short_record_raises(probe: NetworkProbe, cut: int) -> None:
    rec = record()
    with pytest.raises(ValueError, match=f"network record of {cut} bytes, expected"):
        probe.decode(rec.hdr, bytes(rec)[:cut])


@pytest.mark.parametrize("family", [0, 1, 3, 17, 0xFFFF])
def test_decode_bad_family_raises(probe: NetworkProbe, family: int) -> None:
    with pytest.raises(ValueError, match=f"family {family}, protocol 6"):
        decode(probe, record(family=family))


@pytest.mark.parametrize("protocol", [0, 1, 58, 132, 255])
def test_decode_bad_protocol_raises(probe: NetworkProbe, protocol: int) -> None:
    with pytest.raises(ValueError, match=f"protocol {protocol}"):
        decode(probe, record(protocol=protocol))


@pytest.mark.parametrize("syscall", [0, 4, 255])
def test_decode_bad_syscall_raises(probe: NetworkProbe, syscall: int) -> None:
    with pytest.raises(ValueError, match="NetSyscall"):
        decode(probe, record(syscall=syscall))


# the programs of network_monitor.bpf.o (connect only) and their sections
NET_PROGRAMS = {
    "enter_connect": "tracepoint/syscalls/sys_enter_connect",
    "exit_connect": "tracepoint/syscalls/sys_exit_connect",
    "deny_connect4": "cgroup/connect4",
    "deny_connect6": "cgroup/connect6",
    "deny_sendmsg4": "cgroup/sendmsg4",
    "deny_sendmsg6": "cgroup/sendmsg6",
}


def now_boot() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def udp_key(rec: NetEvent) -> bytes:
    key = UdpKey()
    key.tgid = rec.hdr.pid
    key.result = rec.result
    key.family = rec.family
    key.dport = rec.dport
    key.syscall = rec.syscall
    key.protocol = rec.protocol
    key.uid = rec.hdr.uid
    key.comm = bytes(rec.hdr.comm)
    key.daddr[:] = list(rec.daddr)
    return bytes(key)


def put(obj: FakeObject, rec: NetEvent, total: int, last_emit_ns: int) -> bytes:
    """Put the kernel's aggregate for rec's destination in udp_agg."""
    key = udp_key(rec)
    value = UdpValue(total=total, last_emit_ns=last_emit_ns)
    obj.map("udp_agg").entries[key] = bytes(value)
    return key


@pytest.fixture
def obj() -> FakeObject:
    return FakeObject(NET_PROGRAMS)


@pytest.fixture
def unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    # every flush looks at the table, however soon after the last
    monkeypatch.setattr(network, "_FLUSH_EVERY_S", -1.0)


# flush


def test_flush_of_an_empty_table(probe: NetworkProbe, obj: FakeObject) -> None:
    assert probe.flush(bpf(obj), final=False) == []
    assert probe.flush(bpf(obj), final=True) == []


def test_flush_nothing_due_within_the_window(probe: NetworkProbe, obj: FakeObject) -> None:
    rec = udp(total=1, pid=LIVE_PID)
    decode(probe, rec)
    put(obj, rec, total=4, last_emit_ns=now_boot())
    assert probe.flush(bpf(obj), final=False) == []
    assert obj.map("udp_agg").deleted == []


def test_flush_due_after_the_window(probe: NetworkProbe, obj: FakeObject) -> None:
    rec = udp(total=1, pid=LIVE_PID, daddr="198.51.100.4", dport=123)
    decode(probe, rec)
    put(obj, rec, total=4, last_emit_ns=now_boot() - 10 * UDP_WINDOW_NS)
    before = now_boot()
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.count == 3
    assert event.daddr == "198.51.100.4"
    assert event.dport == 123
    assert event.protocol == "udp"
    assert event.syscall == "sendto"
    assert event.process.pid == LIVE_PID
    assert event.process.comm == b"curl"
    # stamped when the flush found it, not when the first send was
    assert event.timestamp >= datetime.fromtimestamp(
        (before + BOOT_TO_UTC_NS) // 1_000_000_000, tz=UTC
    )


def test_flush_just_at_one_window_is_due(probe: NetworkProbe, obj: FakeObject) -> None:
    rec = udp(total=1, pid=LIVE_PID)
    decode(probe, rec)
    put(obj, rec, total=2, last_emit_ns=now_boot() - UDP_WINDOW_NS)
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.count == 1


def test_flush_accounts_what_it_reported(
    probe: NetworkProbe, obj: FakeObject, unthrottled: None
) -> None:
    del unthrottled
    rec = udp(total=1, pid=LIVE_PID)
    decode(probe, rec)
    key = put(obj, rec, total=4, last_emit_ns=now_boot() - 10 * UDP_WINDOW_NS)
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.count == 3
    # nothing new: nothing reported, and a live process's entry stays
    assert probe.flush(bpf(obj), final=False) == []
    assert key in obj.map("udp_agg").entries
    # the event for total 4 arrives late from the ring: already reported
    assert decode(probe, udp(total=4, pid=LIVE_PID)) is None
    # more sends, counted from what the flush reported
    later = decode(probe, udp(total=6, pid=LIVE_PID))
    assert later is not None
    assert later.count == 2
    put(obj, rec, total=9, last_emit_ns=now_boot() - 10 * UDP_WINDOW_NS)
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.count == 3


def test_flush_is_throttled(probe: NetworkProbe, obj: FakeObject) -> None:
    rec = udp(total=1, pid=LIVE_PID)
    decode(probe, rec)
    assert probe.flush(bpf(obj), final=False) == []
    # due now, but the last look was a moment ago
    put(obj, rec, total=3, last_emit_ns=now_boot() - 10 * UDP_WINDOW_NS)
    assert probe.flush(bpf(obj), final=False) == []
    # a final flush is never throttled
    (event,) = probe.flush(bpf(obj), final=True)
    assert event.count == 2


def test_flush_final_reports_everything(probe: NetworkProbe, obj: FakeObject) -> None:
    a = udp(total=1, pid=LIVE_PID, daddr="192.0.2.1")
    b = udp(total=2, pid=LIVE_PID, daddr="192.0.2.2")
    c = udp(total=3, pid=LIVE_PID, daddr="192.0.2.3")
    for rec in (a, b, c):
        decode(probe, rec)
    recent = now_boot()
    put(obj, a, total=5, last_emit_ns=recent)
    put(obj, b, total=2, last_emit_ns=recent)  # nothing left to report
    put(obj, c, total=4, last_emit_ns=recent)
    events = probe.flush(bpf(obj), final=True)
    assert sorted((e.daddr, e.count) for e in events) == [("192.0.2.1", 4), ("192.0.2.3", 1)]


def test_flush_reports_an_unseen_key_after_two_windows(
    probe: NetworkProbe, obj: FakeObject, unthrottled: None
) -> None:
    del unthrottled
    # its first event never reached decode
    rec = udp(pid=LIVE_PID, daddr="198.51.100.9", dport=514, result=-errno.EPERM)
    key = put(obj, rec, total=6, last_emit_ns=now_boot())
    assert probe.flush(bpf(obj), final=False) == []
    # one window: still maybe in the ring
    put(obj, rec, total=6, last_emit_ns=now_boot() - 3 * UDP_WINDOW_NS // 2)
    assert probe.flush(bpf(obj), final=False) == []
    put(obj, rec, total=6, last_emit_ns=now_boot() - 2 * UDP_WINDOW_NS)
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.count == 6
    assert event.daddr == "198.51.100.9"
    assert event.dport == 514
    assert event.result == -errno.EPERM
    assert event.family == "AF_INET"
    assert event.protocol == "udp"
    assert event.syscall == "sendto"
    assert event.blocked is False
    assert event.rule is None
    # pid, uid and comm from the key; the thread is not known
    assert event.process.pid == LIVE_PID
    assert event.process.tid == LIVE_PID
    assert event.process.comm == b"curl"
    # the late first event is then stale
    late = udp(total=1, pid=LIVE_PID, daddr="198.51.100.9", dport=514, result=-errno.EPERM)
    assert decode(probe, late) is None
    assert key in obj.map("udp_agg").entries


@pytest.mark.parametrize(
    ("daddr", "rule"),
    [
        ("203.0.113.9", "203.0.113.0/24"),
        # the longest prefix wins, as in the kernel's trie
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1::1", "2001:db8::/32"),
    ],
)
def test_flush_unseen_key_blocked_from_policy(
    probe: NetworkProbe, obj: FakeObject, daddr: str, rule: str
) -> None:
    probe.enforcing = True
    rec = udp(pid=LIVE_PID, daddr=daddr, result=-errno.EPERM)
    put(obj, rec, total=2, last_emit_ns=now_boot() - 5 * UDP_WINDOW_NS)
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.blocked is True
    assert event.rule == rule
    assert event.action == "denied"


def test_flush_unseen_key_of_a_dead_process(probe: NetworkProbe, obj: FakeObject) -> None:
    rec = udp(pid=DEAD_PID)
    put(obj, rec, total=2, last_emit_ns=now_boot())
    (event,) = probe.flush(bpf(obj), final=True)
    assert event.process.pid == DEAD_PID
    assert event.process.comm == b"curl"
    assert event.count == 2


def test_flush_unseen_key_final_does_not_wait(probe: NetworkProbe, obj: FakeObject) -> None:
    rec = udp(pid=LIVE_PID, syscall=NetSyscall.SENDMSG, daddr="2001:db8::7")
    put(obj, rec, total=1, last_emit_ns=now_boot())
    (event,) = probe.flush(bpf(obj), final=True)
    assert event.syscall == "sendmsg"
    assert event.family == "AF_INET6"
    assert event.daddr == "2001:db8::7"


def test_flush_deletes_accounted_entries_of_dead_processes(
    probe: NetworkProbe, obj: FakeObject, unthrottled: None
) -> None:
    del unthrottled
    dead = udp(total=3, pid=DEAD_PID)
    live = udp(total=3, pid=LIVE_PID)
    decode(probe, dead)
    decode(probe, live)
    dead_key = put(obj, dead, total=3, last_emit_ns=now_boot())
    live_key = put(obj, live, total=3, last_emit_ns=now_boot())
    assert probe.flush(bpf(obj), final=False) == []
    table = obj.map("udp_agg")
    assert table.deleted == [dead_key]
    assert list(table.entries) == [live_key]
    # forgotten here too: a new aggregate for the same key starts from nothing
    event = decode(probe, udp(total=1, pid=DEAD_PID))
    assert event is not None
    assert event.count == 1


def test_flush_keeps_dead_entries_with_sends_not_yet_reported(
    probe: NetworkProbe, obj: FakeObject, unthrottled: None
) -> None:
    del unthrottled
    rec = udp(total=1, pid=DEAD_PID)
    decode(probe, rec)
    key = put(obj, rec, total=3, last_emit_ns=now_boot())
    # not due yet, and two sends are unreported: kept
    assert probe.flush(bpf(obj), final=False) == []
    assert obj.map("udp_agg").deleted == []
    # due: reported, then deleted at the next look
    put(obj, rec, total=3, last_emit_ns=now_boot() - 10 * UDP_WINDOW_NS)
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.count == 2
    assert obj.map("udp_agg").deleted == []
    assert probe.flush(bpf(obj), final=False) == []
    assert obj.map("udp_agg").deleted == [key]


def test_flush_unseen_key_of_a_dead_process_reported_then_deleted(
    probe: NetworkProbe, obj: FakeObject, unthrottled: None
) -> None:
    del unthrottled
    rec = udp(pid=DEAD_PID)
    key = put(obj, rec, total=2, last_emit_ns=now_boot() - 3 * UDP_WINDOW_NS)
    (event,) = probe.flush(bpf(obj), final=False)
    assert event.count == 2
    assert probe.flush(bpf(obj), final=False) == []
    assert obj.map("udp_agg").deleted == [key]
    assert obj.map("udp_agg").entries == {}


def test_flush_skips_a_key_gone_before_its_lookup(probe: NetworkProbe, obj: FakeObject) -> None:
    rec = udp(pid=LIVE_PID)
    obj.map("udp_agg").vanishing.add(udp_key(rec))
    assert probe.flush(bpf(obj), final=True) == []


# configure, populate, programs, attach


@pytest.mark.parametrize(
    ("policy_enforce", "flag", "expected"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_configure(
    monkeypatch: pytest.MonkeyPatch, *, policy_enforce: bool, flag: bool, expected: bool
) -> None:
    monkeypatch.setattr(network, "cgroup_hooks_missing", lambda _environ: None)
    text = POLICY + f"  enforce: {str(policy_enforce).lower()}\n"
    probe = make_probe(text, enforce=flag)
    assert probe.enforce is expected
    assert probe.enforcing is False
    obj = FakeObject(NET_PROGRAMS)
    probe.configure(bpf(obj))
    initial = obj.map(".rodata").initial
    assert initial is not None
    cfg = NetConfig.from_buffer_copy(initial)
    assert cfg.self_tgid == SELF_PID
    assert cfg.enforce == int(expected)
    assert cfg.udp_window_ns == UDP_WINDOW_NS
    enforce_programs = network._ENFORCE_PROGRAMS  # noqa: SLF001
    entry = dict.fromkeys(NetworkProbe.entry_programs, False)
    assert obj.autoload == dict.fromkeys(enforce_programs, expected) | entry


def test_populate_writes_each_network_into_its_trie(probe: NetworkProbe, obj: FakeObject) -> None:
    probe.populate(bpf(obj))
    v4 = [(LpmV4.from_buffer_copy(k), v) for k, v in obj.map("blocked_v4").entries.items()]
    v6 = [(LpmV6.from_buffer_copy(k), v) for k, v in obj.map("blocked_v6").entries.items()]
    assert sorted((k.prefixlen, bytes(k.addr), v) for k, v in v4) == [
        (24, bytes([203, 0, 113, 0]), (0).to_bytes(4, "little")),
        (32, bytes([203, 0, 113, 7]), (1).to_bytes(4, "little")),
    ]
    assert [(k.prefixlen, bytes(k.addr), v) for k, v in v6] == [
        (32, ipaddress.IPv6Address("2001:db8::").packed, (2).to_bytes(4, "little")),
    ]


def test_populate_of_an_empty_list(obj: FakeObject) -> None:
    make_probe("version: 1\n").populate(bpf(obj))
    assert obj.map("blocked_v4").entries == {}
    assert obj.map("blocked_v6").entries == {}


def test_programs_leave_out_the_deny_programs(probe: NetworkProbe, obj: FakeObject) -> None:
    assert probe.programs(bpf(obj)) == ["enter_connect", "exit_connect"]


def test_attach_monitoring_only(
    probe: NetworkProbe, obj: FakeObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_look() -> None:
        pytest.fail("looked for cgroup v2 without enforcement")

    monkeypatch.setattr(network, "cgroup2_root", must_not_look)
    assert probe.attach(bpf(obj)) == ["enter_connect", "exit_connect"]
    assert obj.attached == ["enter_connect", "exit_connect"]
    assert obj.cgroup_attached == []
    assert probe.enforcing is False


def test_attach_enforcing(
    obj: FakeObject,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = make_probe(enforce=True)
    monkeypatch.setattr(network, "cgroup2_root", lambda: tmp_path)
    monkeypatch.setattr(network, "v1_socket_controllers", lambda: ["net_cls"])
    with caplog.at_level(logging.INFO, logger="bee_trace.probes.network"):
        names = probe.attach(bpf(obj))
    assert names == ["enter_connect", "exit_connect", *network._ENFORCE_PROGRAMS]  # noqa: SLF001
    assert [name for name, _ in obj.cgroup_attached] == list(network._ENFORCE_PROGRAMS)  # noqa: SLF001
    # the cgroup directory was closed after attaching
    fd = obj.cgroup_attached[0][1]
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)
    assert probe.enforcing is True
    assert "cgroup v1 net_cls is mounted" in caplog.text
    assert "network enforcement on" in caplog.text
    event = decode(probe, record(daddr="203.0.113.9", blocked=True, result=-errno.EPERM))
    assert event is not None
    assert event.action == "denied"


def test_attach_enforcing_closes_the_cgroup_on_failure(
    obj: FakeObject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    probe = make_probe(enforce=True)
    monkeypatch.setattr(network, "cgroup2_root", lambda: tmp_path)
    monkeypatch.setattr(network, "v1_socket_controllers", list)
    fds: list[int] = []

    def refuse(name: str, cgroup_fd: int) -> None:
        fds.append(cgroup_fd)
        raise OSError(errno.EINVAL, name)

    monkeypatch.setattr(obj, "attach_cgroup", refuse)
    with pytest.raises(OSError, match="deny_connect4"):
        probe.attach(bpf(obj))
    assert probe.enforcing is False
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fds[0])


def test_attach_without_cgroup2_monitors_only(
    obj: FakeObject, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    probe = make_probe(enforce=True)

    def unavailable() -> Path:
        msg = "cgroup v2 is not mounted and mounting it at /x failed: EPERM (no)"
        raise CgroupUnavailableError(msg)

    monkeypatch.setattr(network, "cgroup2_root", unavailable)
    with caplog.at_level(logging.WARNING, logger="bee_trace.probes.network"):
        assert probe.attach(bpf(obj)) == ["enter_connect", "exit_connect"]
    assert probe.enforcing is False
    assert obj.cgroup_attached == []
    assert "network enforcement unavailable, monitoring only" in caplog.text
    assert "EPERM" in caplog.text
    event = decode(probe, record(daddr="203.0.113.9", blocked=True, result=-errno.EPERM))
    assert event is not None
    assert event.action == "allowed"


def test_without_cgroup_hooks_enforcement_is_left_out_and_said_why(
    obj: FakeObject, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BEE_TRACE_FORCE_NO_CGROUP", "1")

    def must_not_look() -> None:
        pytest.fail("looked for cgroup v2 without cgroup hooks")

    monkeypatch.setattr(network, "cgroup2_root", must_not_look)
    probe = make_probe(enforce=True)
    probe.configure(bpf(obj))
    initial = obj.map(".rodata").initial
    assert initial is not None
    assert NetConfig.from_buffer_copy(initial).enforce == 0
    enforce_programs = network._ENFORCE_PROGRAMS  # noqa: SLF001
    assert obj.autoload == dict.fromkeys((*enforce_programs, *NetworkProbe.entry_programs), False)
    with caplog.at_level(logging.WARNING, logger="bee_trace.probes.network"):
        assert probe.attach(bpf(obj)) == ["exit_connect"]
    assert probe.enforcing is False
    assert obj.cgroup_attached == []
    assert "network enforcement unavailable, monitoring only" in caplog.text
    assert "forced by BEE_TRACE_FORCE_NO_CGROUP" in caplog.text
