"""memory_monitor: one process reading or writing another's memory.

The kernel program decides what is reported: a watched kind of access, by a
process on another process, by a caller not on ``memory.allowed_accessors``.
Allowed executables are matched by the identity (device and inode) of their
file, taken when bee-trace starts; allowed comm names are matched as the
kernel holds them (15 bytes), and a process can choose its own comm.
"""

from __future__ import annotations

import ctypes
import logging
import os
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from bee_trace.events.model import MemoryAccessEvent, ProcessInfo
from bee_trace.events.records import (
    COMM_LEN,
    AnyHeader,
    EventKind,
    ExeId,
    MemConfig,
    MemEvent,
    mirrors_of,
)
from bee_trace.probes.base import Probe

if TYPE_CHECKING:
    from bee_trace.bpf import BpfObject

log = logging.getLogger(__name__)

_O_ACCMODE: Final = 0o3
_O_WRONLY: Final = 0o1
_O_RDWR: Final = 0o2


class MemOperation(IntEnum):
    """``enum bt_mem_operation``."""

    PTRACE = 1
    VM_READV = 2
    VM_WRITEV = 3
    PROC_MEM = 4


class PtraceRequest(IntEnum):
    """The ptrace requests the kernel program reports (``linux/ptrace.h``)."""

    PTRACE_PEEKTEXT = 1
    PTRACE_PEEKDATA = 2
    PTRACE_PEEKUSR = 3
    PTRACE_POKETEXT = 4
    PTRACE_POKEDATA = 5
    PTRACE_POKEUSR = 6
    PTRACE_GETREGS = 12
    PTRACE_SETREGS = 13
    PTRACE_GETFPREGS = 14
    PTRACE_SETFPREGS = 15
    PTRACE_ATTACH = 16
    PTRACE_GETFPXREGS = 18
    PTRACE_SETFPXREGS = 19
    PTRACE_GETREGSET = 0x4204
    PTRACE_SETREGSET = 0x4205
    PTRACE_SEIZE = 0x4206
    PTRACE_ARCH_PRCTL = 30
    PTRACE_SET_SYSCALL_INFO = 0x4212


_PTRACE_ACCESS: Final = {
    PtraceRequest.PTRACE_ATTACH: "attach",
    PtraceRequest.PTRACE_SEIZE: "attach",
    PtraceRequest.PTRACE_POKETEXT: "write",
    PtraceRequest.PTRACE_POKEDATA: "write",
    PtraceRequest.PTRACE_POKEUSR: "write",
    PtraceRequest.PTRACE_SETREGS: "write",
    PtraceRequest.PTRACE_SETFPREGS: "write",
    PtraceRequest.PTRACE_SETFPXREGS: "write",
    PtraceRequest.PTRACE_SETREGSET: "write",
    PtraceRequest.PTRACE_ARCH_PRCTL: "write",
    PtraceRequest.PTRACE_SET_SYSCALL_INFO: "write",
}

_OPERATION_NAMES: Final = {
    MemOperation.PTRACE: "ptrace",
    MemOperation.VM_READV: "process_vm_readv",
    MemOperation.VM_WRITEV: "process_vm_writev",
    MemOperation.PROC_MEM: "proc_mem",
}


def kernel_dev(st_dev: int) -> int:
    """stat's st_dev as the kernel's ``sb->s_dev`` (MKDEV: major << 20 | minor)."""
    return (os.major(st_dev) << 20) | os.minor(st_dev)


def _access(op: MemOperation, request: int) -> tuple[str, str | None]:
    if op == MemOperation.PTRACE:
        req = PtraceRequest(request)
        return _PTRACE_ACCESS.get(req, "read"), req.name
    if op == MemOperation.VM_READV:
        return "read", None
    if op == MemOperation.VM_WRITEV:
        return "write", None
    mode = request & _O_ACCMODE
    return {_O_WRONLY: "write", _O_RDWR: "read_write"}.get(mode, "read"), None


def _proc_field(pid: int, name: str, proc: Path = Path("/proc")) -> bytes | None:
    try:
        return (proc / str(pid) / name).read_bytes()
    except OSError:
        return None


def target_tgid(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The process a thread id belongs to, while it exists."""
    status = _proc_field(pid, "status", proc)
    for line in (status or b"").splitlines():
        if line.startswith(b"Tgid:"):
            return int(line.split()[1])
    return None


def same_pid_namespace(pid: int, proc: Path = Path("/proc")) -> bool:
    """Whether a process sees the same pids as bee-trace does."""
    try:
        return (proc / str(pid) / "ns" / "pid").readlink() == (proc / "self/ns/pid").readlink()
    except OSError:
        return False


class MemoryProbe(Probe):
    """ptrace, process_vm_readv/writev and /proc/<pid>/mem across processes."""

    name: ClassVar[str] = "memory_monitor"
    object_name: ClassVar[str] = "memory_monitor.bpf.o"
    event_kind: ClassVar[int] = EventKind.MEMORY
    records: ClassVar[dict[str, type]] = mirrors_of(
        "bt_event_header",
        "bt_mem_event",
        "bt_exe_id",
        "bt_mem_config",
    )
    # one /proc/<pid>/mem check for the exit of every open
    also_attach: ClassVar[dict[str, tuple[str, ...]]] = {
        "mem_exit_openat": ("sys_exit_open", "sys_exit_openat2"),
    }
    entry_programs: ClassVar[tuple[str, ...]] = (
        "enter_ptrace",
        "enter_vm_readv",
        "enter_vm_writev",
    )
    # with file_monitor running, only opens of files named "mem" reach it
    open_handoff: ClassVar[tuple[str, tuple[bytes, ...]] | None] = ("mem_exit_openat", (b"mem",))

    def configure(self, obj: BpfObject) -> None:
        """Set what is watched and whether to enforce."""
        policy = self.ctx.policy.memory
        cfg = MemConfig()
        cfg.self_tgid = self.ctx.self_pid
        cfg.enforce = int(policy.enforce)
        cfg.watch_ptrace = int(policy.watch.ptrace)
        cfg.watch_process_vm = int(policy.watch.process_vm)
        cfg.watch_proc_mem = int(policy.watch.proc_mem)
        cfg.args_at_exit = int(self.choose_arg_source(obj))
        obj.map(".rodata").set_initial_value(bytes(cfg))

    def populate(self, obj: BpfObject) -> None:
        """Write the allow list: comm names, and executables by device and inode."""
        policy = self.ctx.policy.memory
        comms = obj.map("allowed_comms")
        for comm in policy.allowed_comms:
            comms.update(os.fsencode(comm)[: COMM_LEN - 1].ljust(COMM_LEN, b"\0"), b"\x01")
        exes = obj.map("allowed_exes")
        for path in policy.allowed_executables:
            try:
                st = Path(path).stat()
            except OSError as exc:
                log.info("memory.allowed_accessors: %s not allowed: %s", path, exc.strerror)
                continue
            exe = ExeId()
            exe.ino = st.st_ino
            exe.dev = kernel_dev(st.st_dev)
            exes.update(bytes(exe), b"\x01")
        if policy.enforce:
            log.info("memory enforcement on: accessors not allowed are killed (SIGKILL)")

    def decode(self, header: AnyHeader, raw: bytes) -> MemoryAccessEvent | None:
        """Decode one record and name the target."""
        del header
        if len(raw) < ctypes.sizeof(MemEvent):
            msg = f"memory record of {len(raw)} bytes, expected {ctypes.sizeof(MemEvent)}"
            raise ValueError(msg)
        rec = MemEvent.from_buffer_copy(raw)
        op = MemOperation(rec.operation)
        hdr = rec.hdr
        # another of its own threads, named by tid, is still the process itself;
        # a pid can only be looked up here when the caller shares our pid namespace
        if same_pid_namespace(hdr.pid) and target_tgid(rec.target_pid) == hdr.pid:
            return None
        access, request = _access(op, rec.request)
        comm = _proc_field(rec.target_pid, "comm")
        ns = hdr.ts_boot_ns + self.ctx.boot_to_utc_ns
        return MemoryAccessEvent(
            timestamp=datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
                microsecond=ns // 1000 % 1_000_000
            ),
            process=ProcessInfo(
                pid=hdr.pid, tid=hdr.tid, ppid=hdr.ppid, uid=hdr.uid, comm=bytes(hdr.comm)
            ),
            operation=_OPERATION_NAMES[op],
            request=request,
            access=access,
            target_pid=rec.target_pid,
            target_comm=comm.rstrip(b"\n") if comm is not None else b"",
            result=rec.result,
            action="killed" if rec.killed else "allowed",
        )
