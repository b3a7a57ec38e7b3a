"""network_monitor: outbound connections and UDP datagrams, blocked or not.

Blocked destinations are matched in the kernel, in one LPM trie per address
family whose values index ``network.blocked_ips``. With enforcement on, four
cgroup sock_addr programs on the cgroup v2 root refuse them with EPERM.

UDP sends are aggregated: the kernel counts sends per process and
destination and reports one at most every window, carrying the running
total; this module turns totals into counts, and reports what a window
closed on without a further send by reading the kernel's table.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from bee_trace.events.model import NetworkConnectionEvent, ProcessInfo
from bee_trace.events.records import (
    AnyHeader,
    EventKind,
    LpmV4,
    LpmV6,
    NetConfig,
    NetEvent,
    UdpKey,
    UdpValue,
    mirrors_of,
)
from bee_trace.host.cgroup import CgroupUnavailableError, cgroup2_root, v1_socket_controllers
from bee_trace.host.features import cgroup_hooks_missing
from bee_trace.probes.base import Probe, ProbeContext

if TYPE_CHECKING:
    from bee_trace.bpf import BpfObject

log = logging.getLogger(__name__)

UDP_WINDOW_NS: Final = 1_000_000_000
_FLUSH_EVERY_S: Final = 0.25
AF_INET: Final = 2
AF_INET6: Final = 10
_PROTOCOLS: Final = {6: "tcp", 17: "udp", 136: "udplite"}
_FAMILIES: Final = {AF_INET: "AF_INET", AF_INET6: "AF_INET6"}
_ENFORCE_PROGRAMS: Final = (
    "deny_connect4",
    "deny_connect6",
    "deny_sendmsg4",
    "deny_sendmsg6",
    "deny_udplite",
)


class NetSyscall(IntEnum):
    """``enum bt_net_syscall``."""

    CONNECT = 1
    SENDTO = 2
    SENDMSG = 3


@dataclass(slots=True)
class _Seen:
    """What user space knows of one (process, destination) UDP aggregate."""

    accounted: int
    header: NetEvent


def _ts(boot_ns: int, offset_ns: int) -> datetime:
    ns = boot_ns + offset_ns
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=ns // 1000 % 1_000_000
    )


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _addr(family: int, raw: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if family == AF_INET:
        return ipaddress.IPv4Address(raw[:4])
    return ipaddress.IPv6Address(raw[:16])


class NetworkProbe(Probe):
    """Outbound connects and UDP sends, with blocked destinations flagged or denied."""

    name: ClassVar[str] = "network_monitor"
    object_name: ClassVar[str] = "network_monitor.bpf.o"
    event_kind: ClassVar[int] = EventKind.NETWORK
    entry_programs: ClassVar[tuple[str, ...]] = ("enter_connect", "enter_sendto", "enter_sendmsg")
    records: ClassVar[dict[str, type]] = mirrors_of(
        "bt_event_header",
        "bt_net_event",
        "bt_lpm_v4",
        "bt_lpm_v6",
        "bt_udp_key",
        "bt_udp_value",
        "bt_net_config",
    )

    def __init__(self, ctx: ProbeContext) -> None:
        """Decide on enforcement; nothing touches the kernel yet."""
        super().__init__(ctx)
        policy = self.ctx.policy.network
        self.enforce = policy.enforce or self.ctx.enforce
        self.enforcing = False
        # why the cgroup deny programs cannot be loaded, when they cannot
        self._no_cgroup_hooks: str | None = None
        self._seen: dict[bytes, _Seen] = {}
        self._next_flush = 0.0

    def configure(self, obj: BpfObject) -> None:
        """Set the read-only globals; load the deny programs only to enforce."""
        if self.enforce:
            # a kernel that cannot load them would fail the whole object: leave them out
            self._no_cgroup_hooks = cgroup_hooks_missing(os.environ)
        deny = self.enforce and self._no_cgroup_hooks is None
        cfg = NetConfig()
        cfg.self_tgid = self.ctx.self_pid
        cfg.enforce = int(deny)
        cfg.udp_window_ns = UDP_WINDOW_NS
        cfg.args_at_exit = int(self.choose_arg_source(obj))
        obj.map(".rodata").set_initial_value(bytes(cfg))
        for name in _ENFORCE_PROGRAMS:
            obj.set_autoload(name, enabled=deny)

    def populate(self, obj: BpfObject) -> None:
        """Write blocked_ips into the LPM tries; the value is the entry's index."""
        v4, v6 = obj.map("blocked_v4"), obj.map("blocked_v6")
        for index, entry in enumerate(self.ctx.policy.network.blocked_ips):
            net = entry.network
            value = index.to_bytes(4, "little")
            if net.version == 4:  # noqa: PLR2004 - IP version
                k4 = LpmV4(net.prefixlen)
                k4.addr[:] = list(net.network_address.packed)
                v4.update(bytes(k4), value)
            else:
                k6 = LpmV6(net.prefixlen)
                k6.addr[:] = list(net.network_address.packed)
                v6.update(bytes(k6), value)

    def programs(self, obj: BpfObject) -> list[str]:
        """The tracepoint programs; the deny programs attach to a cgroup."""
        return [n for n in super().programs(obj) if n not in _ENFORCE_PROGRAMS]

    def _cgroup_root(self) -> Path:
        """Where the deny programs attach; a kernel without the hooks has none."""
        if self._no_cgroup_hooks is not None:
            raise CgroupUnavailableError(self._no_cgroup_hooks)
        return cgroup2_root()

    def attach(self, obj: BpfObject) -> list[str]:
        """Attach the tracepoints, then enforcement if asked for and possible."""
        names = super().attach(obj)
        if not self.enforce:
            return names
        try:
            root = self._cgroup_root()
        except CgroupUnavailableError as exc:
            log.warning("network enforcement unavailable, monitoring only: %s", exc)
            return names
        for controller in v1_socket_controllers():
            log.warning(
                "cgroup v1 %s is mounted: sockets of processes in its cgroups bypass "
                "network enforcement",
                controller,
            )
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in _ENFORCE_PROGRAMS:
                obj.attach_cgroup(name, fd)
        finally:
            os.close(fd)
        self.enforcing = True
        log.info("network enforcement on: blocked destinations are denied (cgroup %s)", root)
        return [*names, *_ENFORCE_PROGRAMS]

    def _event(self, rec: NetEvent, count: int) -> NetworkConnectionEvent:
        hdr = rec.hdr
        addr = _addr(rec.family, bytes(rec.daddr))
        blocked_ips = self.ctx.policy.network.blocked_ips
        rule = blocked_ips[rec.rule].raw if rec.blocked and rec.rule < len(blocked_ips) else None
        denied = bool(rec.blocked) and self.enforcing and rec.result == -errno.EPERM
        return NetworkConnectionEvent(
            timestamp=_ts(hdr.ts_boot_ns, self.ctx.boot_to_utc_ns),
            process=ProcessInfo(
                pid=hdr.pid, tid=hdr.tid, ppid=hdr.ppid, uid=hdr.uid, comm=bytes(hdr.comm)
            ),
            syscall=NetSyscall(rec.syscall).name.lower(),
            family=_FAMILIES[rec.family],
            protocol=_PROTOCOLS[rec.protocol],
            daddr=str(addr),
            dport=rec.dport,
            result=rec.result,
            count=count,
            blocked=bool(rec.blocked),
            rule=rule,
            action="denied" if denied else "allowed",
        )

    def _record_from_key(self, raw_key: bytes) -> NetEvent:
        """A record for an aggregate whose first event never arrived."""
        key = UdpKey.from_buffer_copy(raw_key)
        rec = NetEvent()
        rec.hdr.kind = EventKind.NETWORK
        rec.hdr.pid = rec.hdr.tid = key.tgid
        rec.hdr.uid = key.uid
        rec.hdr.comm = bytes(key.comm)
        rec.result = key.result
        rec.family = key.family
        rec.dport = key.dport
        rec.syscall = key.syscall
        rec.protocol = key.protocol
        rec.daddr[:] = list(key.daddr)
        blocked_ips = self.ctx.policy.network.blocked_ips
        match = self.ctx.policy.network.match(_addr(key.family, bytes(key.daddr)))
        if match is not None:
            rec.blocked = 1
            rec.rule = blocked_ips.index(match)
        return rec

    @staticmethod
    def _key(rec: NetEvent) -> bytes:
        key = UdpKey()
        key.tgid = rec.hdr.pid
        key.result = rec.result
        key.uid = rec.hdr.uid
        key.family = rec.family
        key.dport = rec.dport
        key.syscall = rec.syscall
        key.protocol = rec.protocol
        key.daddr[:] = list(rec.daddr)
        key.comm = bytes(rec.hdr.comm)
        return bytes(key)

    def decode(self, header: AnyHeader, raw: bytes) -> NetworkConnectionEvent | None:
        """Decode one record; turn a UDP running total into a count."""
        del header
        if len(raw) < ctypes.sizeof(NetEvent):
            msg = f"network record of {len(raw)} bytes, expected {ctypes.sizeof(NetEvent)}"
            raise ValueError(msg)
        rec = NetEvent.from_buffer_copy(raw)
        if rec.family not in _FAMILIES or rec.protocol not in _PROTOCOLS:
            msg = f"network record with family {rec.family}, protocol {rec.protocol}"
            raise ValueError(msg)
        if rec.total == 0:
            return self._event(rec, 1)
        key = self._key(rec)
        seen = self._seen.get(key)
        accounted = seen.accounted if seen else 0
        if rec.total <= accounted:
            # a flush already reported these sends from the kernel's table
            return None
        self._seen[key] = _Seen(accounted=rec.total, header=rec)
        return self._event(rec, rec.total - accounted)

    def flush(self, obj: BpfObject, *, final: bool) -> list[NetworkConnectionEvent]:
        """Report UDP sends counted in the kernel that no event has covered yet."""
        now = time.monotonic()
        if not final and now < self._next_flush:
            return []
        self._next_flush = now + _FLUSH_EVERY_S
        table = obj.map("udp_agg")
        now_boot = time.clock_gettime_ns(self.ctx.clock_id)
        out: list[NetworkConnectionEvent] = []
        for key in table.keys(ctypes.sizeof(UdpKey)):
            raw = table.lookup(key, ctypes.sizeof(UdpValue))
            if raw is None:
                continue
            value = UdpValue.from_buffer_copy(raw)
            seen = self._seen.get(key)
            if seen is None:
                # its first event was lost (and counted as a drop), or is still
                # in the ring: wait a window, then report from the table alone
                if not final and now_boot - value.last_emit_ns < 2 * UDP_WINDOW_NS:
                    continue
                seen = _Seen(accounted=0, header=self._record_from_key(key))
                self._seen[key] = seen
            due = final or now_boot - value.last_emit_ns >= UDP_WINDOW_NS
            if due and value.total > seen.accounted:
                rec = NetEvent.from_buffer_copy(bytes(seen.header))
                rec.hdr.ts_boot_ns = now_boot
                out.append(self._event(rec, value.total - seen.accounted))
                seen.accounted = value.total
            elif value.total == seen.accounted and not _alive(seen.header.hdr.pid):
                # the process is gone and everything it sent is reported
                table.delete(key)
                del self._seen[key]
        return out
