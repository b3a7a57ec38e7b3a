"""MemoryProbe without a kernel: access kinds, /proc lookups, records and faked maps."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bee_trace.events.records import EventKind, ExeId, MemConfig, MemEvent
from bee_trace.policy import parse_policy
from bee_trace.probes.base import ProbeContext
from bee_trace.probes.memory import (
    MemOperation,
    MemoryProbe,
    PtraceRequest,
    _access,
    kernel_dev,
    target_tgid,
)
from tests.fakes import FakeObject, bpf
from tests.unit.builders import DEAD_PID, SELF_PID, probe_context

if TYPE_CHECKING:
    from bee_trace.events.model import MemoryAccessEvent

OUR_PID = os.getpid()
OUR_COMM = Path("/proc/self/comm").read_bytes().rstrip(b"\n")
# an accessor other than us: the test's parent, or init
OTHER_PID = os.getppid() or 1

POLICY = """\
version: 1
memory:
  allowed_accessors:
    - gdb
    - fifteen-bytes-x
    - {exe}
    - /nonexistent/bin/tool
  enforce: {enforce}
"""


def make_probe(*, enforce: bool = False, exe: str = sys.executable) -> MemoryProbe:
    text = POLICY.format(exe=exe, enforce=str(enforce).lower())
    return MemoryProbe(probe_context(text))


@pytest.fixture
def probe() -> MemoryProbe:
    return make_probe()


def record(  # noqa: PLR0913 - one keyword per field a test may change
    *,
    operation: int = MemOperation.PTRACE,
    request: int = PtraceRequest.PTRACE_ATTACH,
    target_pid: int = OUR_PID,
    pid: int = OTHER_PID,
    result: int = 0,
    killed: bool = False,
) -> MemEvent:
    rec = MemEvent()
    rec.hdr.kind = EventKind.MEMORY
    rec.hdr.size = ctypes.sizeof(MemEvent)
    rec.hdr.ts_boot_ns = 7_000_250_000
    rec.hdr.pid = pid
    rec.hdr.tid = pid
    rec.hdr.ppid = 1
    rec.hdr.uid = 0
    rec.hdr.comm = b"gdb-ish"
    rec.result = result
    rec.target_pid = target_pid
    rec.request = request
    rec.operation = operation
    rec.killed = int(killed)
    return rec


def decode(probe: MemoryProbe, rec: MemEvent) -> MemoryAccessEvent | None:
    return probe.decode(rec.hdr, bytes(rec))


# _access


@pytest.mark.parametrize(
    ("request_", "access"),
    [
        (PtraceRequest.PTRACE_ATTACH, "attach"),
        (PtraceRequest.PTRACE_SEIZE, "attach"),
        (PtraceRequest.PTRACE_POKETEXT, "write"),
        (PtraceRequest.PTRACE_POKEDATA, "write"),
        (PtraceRequest.PTRACE_POKEUSR, "write"),
        (PtraceRequest.PTRACE_SETREGS, "write"),
        (PtraceRequest.PTRACE_SETFPREGS, "write"),
        (PtraceRequest.PTRACE_SETFPXREGS, "write"),
        (PtraceRequest.PTRACE_SETREGSET, "write"),
        (PtraceRequest.PTRACE_PEEKTEXT, "read"),
        (PtraceRequest.PTRACE_PEEKDATA, "read"),
        (PtraceRequest.PTRACE_PEEKUSR, "read"),
        (PtraceRequest.PTRACE_GETREGS, "read"),
        (PtraceRequest.PTRACE_GETFPREGS, "read"),
        (PtraceRequest.PTRACE_GETFPXREGS, "read"),
        (PtraceRequest.PTRACE_GETREGSET, "read"),
    ],
)
def test_access_ptrace(request_: PtraceRequest, access: str) -> None:
    assert _access(MemOperation.PTRACE, int(request_)) == (access, request_.name)


def test_every_ptrace_request_has_an_access() -> None:
    for request_ in PtraceRequest:
        access, name = _access(MemOperation.PTRACE, int(request_))
        assert access in {"attach", "write", "read"}
        assert name == request_.name


@pytest.mark.parametrize("request_", [0, 7, 17, 0x4200, 0x4207])
def test_access_unknown_ptrace_request_raises(request_: int) -> None:
    with pytest.raises(ValueError, match="PtraceRequest"):
        _access(MemOperation.PTRACE, request_)


@pytest.mark.parametrize("request_", [0, 1, 12345])
def test_access_process_vm(request_: int) -> None:
    assert _access(MemOperation.VM_READV, request_) == ("read", None)
    assert _access(MemOperation.VM_WRITEV, request_) == ("write", None)


@pytest.mark.parametrize(
    ("flags", "access"),
    [
        (os.O_RDONLY, "read"),
        (os.O_WRONLY, "write"),
        (os.O_RDWR, "read_write"),
        # other flags do not change the access mode
        (os.O_RDONLY | os.O_CLOEXEC, "read"),
        (os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, "write"),
        (os.O_RDWR | os.O_LARGEFILE | os.O_CLOEXEC, "read_write"),
        # O_ACCMODE 3 is not a mode open(2) gives; taken as a read
        (0o3, "read"),
    ],
)
def test_access_proc_mem(flags: int, access: str) -> None:
    assert _access(MemOperation.PROC_MEM, flags) == (access, None)


# kernel_dev


@pytest.mark.parametrize(
    ("major", "minor"),
    [(0, 0), (8, 1), (0, 21), (259, 3), (8, 300), (253, 0x12345)],
)
def test_kernel_dev(major: int, minor: int) -> None:
    assert kernel_dev(os.makedev(major, minor)) == (major << 20) | minor


def test_kernel_dev_of_a_real_file() -> None:
    st = Path(sys.executable).stat()
    assert kernel_dev(st.st_dev) >> 20 == os.major(st.st_dev)
    assert kernel_dev(st.st_dev) & 0xFFFFF == os.minor(st.st_dev)


# target_tgid


def test_target_tgid_from_a_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "123").mkdir()
    (tmp_path / "123" / "status").write_bytes(
        b"Name:\tworker\nUmask:\t0022\nTgid:\t100\nPid:\t123\n"
    )
    assert target_tgid(123, proc=tmp_path) == 100


def test_target_tgid_of_a_missing_process(tmp_path: Path) -> None:
    assert target_tgid(123, proc=tmp_path) is None


def test_target_tgid_without_a_tgid_line(tmp_path: Path) -> None:
    (tmp_path / "5").mkdir()
    (tmp_path / "5" / "status").write_bytes(b"Name:\tx\nPid:\t5\n")
    assert target_tgid(5, proc=tmp_path) is None


def test_target_tgid_of_ourselves_and_a_thread_of_ours() -> None:
    assert target_tgid(OUR_PID) == OUR_PID
    assert target_tgid(threading.get_native_id()) == OUR_PID
    with Thread() as tid:
        assert tid != OUR_PID
        assert target_tgid(tid) == OUR_PID


def test_target_tgid_of_a_dead_process() -> None:
    assert target_tgid(DEAD_PID) is None


class Thread:
    """A thread of ours, alive inside the with block; yields its tid."""

    def __init__(self) -> None:
        self._started = threading.Event()
        self._stop = threading.Event()
        self._tid = 0
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        self._tid = threading.get_native_id()
        self._started.set()
        self._stop.wait()

    def __enter__(self) -> int:
        self._thread.start()
        self._started.wait()
        return self._tid

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# decode


def test_decode_ptrace_attach(probe: MemoryProbe) -> None:
    event = decode(probe, record(request=PtraceRequest.PTRACE_ATTACH, result=-errno.EPERM))
    assert event is not None
    assert event.operation == "ptrace"
    assert event.request == "PTRACE_ATTACH"
    assert event.access == "attach"
    assert event.target_pid == OUR_PID
    assert event.target_comm == OUR_COMM
    assert event.result == -errno.EPERM
    assert event.action == "allowed"
    assert event.process.pid == OTHER_PID
    assert event.process.tid == OTHER_PID
    assert event.process.ppid == 1
    assert event.process.uid == 0
    assert event.process.comm == b"gdb-ish"
    assert event.timestamp == datetime.fromtimestamp(1_790_000_007, tz=UTC).replace(microsecond=250)


@pytest.mark.parametrize(
    ("operation", "request_", "names"),
    [
        (
            MemOperation.PTRACE,
            PtraceRequest.PTRACE_POKEDATA,
            ("ptrace", "PTRACE_POKEDATA", "write"),
        ),
        (MemOperation.PTRACE, PtraceRequest.PTRACE_PEEKTEXT, ("ptrace", "PTRACE_PEEKTEXT", "read")),
        (MemOperation.PTRACE, PtraceRequest.PTRACE_SEIZE, ("ptrace", "PTRACE_SEIZE", "attach")),
        (MemOperation.VM_READV, 0, ("process_vm_readv", None, "read")),
        (MemOperation.VM_WRITEV, 0, ("process_vm_writev", None, "write")),
        (MemOperation.PROC_MEM, os.O_RDONLY, ("proc_mem", None, "read")),
        (MemOperation.PROC_MEM, os.O_WRONLY, ("proc_mem", None, "write")),
        (MemOperation.PROC_MEM, os.O_RDWR | os.O_CLOEXEC, ("proc_mem", None, "read_write")),
    ],
)
def test_decode_operations(
    probe: MemoryProbe, operation: int, request_: int, names: tuple[str, str | None, str]
) -> None:
    event = decode(probe, record(operation=operation, request=request_))
    assert event is not None
    assert (event.operation, event.request, event.access) == names


def test_decode_target_gone_has_an_empty_comm(probe: MemoryProbe) -> None:
    event = decode(probe, record(target_pid=DEAD_PID))
    assert event is not None
    assert event.target_pid == DEAD_PID
    assert event.target_comm == b""


def test_decode_proc_mem_of_own_thread_is_filtered(probe: MemoryProbe) -> None:
    with Thread() as tid:
        rec = record(operation=MemOperation.PROC_MEM, request=os.O_RDONLY, target_pid=tid)
        rec.hdr.pid = OUR_PID
        assert decode(probe, rec) is None


def test_decode_proc_mem_of_own_main_thread_is_filtered(probe: MemoryProbe) -> None:
    rec = record(operation=MemOperation.PROC_MEM, target_pid=OUR_PID, pid=OUR_PID)
    assert decode(probe, rec) is None


def test_decode_proc_mem_of_another_process_is_reported(probe: MemoryProbe) -> None:
    with Thread() as tid:
        rec = record(operation=MemOperation.PROC_MEM, request=os.O_RDWR, target_pid=tid)
        event = decode(probe, rec)
    assert event is not None
    assert event.target_pid == tid
    assert event.access == "read_write"
    # a thread's comm is its own; Python names it after the process until told otherwise
    assert event.target_comm


def test_decode_proc_mem_of_a_gone_target_is_reported(probe: MemoryProbe) -> None:
    rec = record(operation=MemOperation.PROC_MEM, target_pid=DEAD_PID, pid=DEAD_PID)
    event = decode(probe, rec)
    assert event is not None
    assert event.target_comm == b""


@pytest.mark.parametrize("operation", [MemOperation.PTRACE, MemOperation.VM_READV])
def test_decode_filters_own_threads_for_every_operation(probe: MemoryProbe, operation: int) -> None:
    # another of the caller's own threads, named by thread id: still itself
    rec = record(operation=operation, request=PtraceRequest.PTRACE_PEEKDATA, pid=OUR_PID)
    assert decode(probe, rec) is None


def test_decode_keeps_targets_of_a_caller_in_another_pid_namespace(probe: MemoryProbe) -> None:
    # a caller whose pid namespace cannot be read (gone) is never judged by our /proc
    rec = record(operation=MemOperation.VM_READV, target_pid=OUR_PID, pid=DEAD_PID)
    assert decode(probe, rec) is not None


@pytest.mark.parametrize(("killed", "action"), [(True, "killed"), (False, "allowed")])
def test_decode_action(probe: MemoryProbe, *, killed: bool, action: str) -> None:
    event = decode(probe, record(killed=killed))
    assert event is not None
    assert event.action == action


def test_decode_accepts_a_longer_record(probe: MemoryProbe) -> None:
    rec = record()
    assert probe.decode(rec.hdr, bytes(rec) + b"\xff" * 8) is not None


@pytest.mark.parametrize("cut", [0, 8, ctypes.sizeof(MemEvent) - 1])
def test_decode_short_record_raises(probe: MemoryProbe, cut: int) -> None:
    rec = record()
    with pytest.raises(ValueError, match=f"memory record of {cut} bytes, expected"):
        probe.decode(rec.hdr, bytes(rec)[:cut])


@pytest.mark.parametrize("operation", [0, 5, 255])
def test_decode_bad_operation_raises(probe: MemoryProbe, operation: int) -> None:
    with pytest.raises(ValueError, match="MemOperation"):
        decode(probe, record(operation=operation))


def test_decode_bad_ptrace_request_raises(probe: MemoryProbe) -> None:
    with pytest.raises(ValueError, match="PtraceRequest"):
        decode(probe, record(request=0x4208))


# configure and populate, with a fake object


@pytest.mark.parametrize("enforce", [False, True])
@pytest.mark.parametrize(
    "watch",
    [(True, True, True), (False, True, False), (True, False, True), (False, False, False)],
)
def test_configure(*, enforce: bool, watch: tuple[bool, bool, bool]) -> None:
    ptrace, process_vm, proc_mem = (str(w).lower() for w in watch)
    text = (
        "version: 1\nmemory:\n"
        f"  watch:\n    ptrace: {ptrace}\n    process_vm: {process_vm}\n"
        f"    proc_mem: {proc_mem}\n"
        f"  enforce: {str(enforce).lower()}\n"
    )
    ctx = ProbeContext(policy=parse_policy(text, "test"), self_pid=SELF_PID, boot_to_utc_ns=0)
    obj = FakeObject(MEM_PROGRAMS)
    MemoryProbe(ctx).configure(bpf(obj))
    initial = obj.map(".rodata").initial
    assert initial is not None
    assert len(initial) == ctypes.sizeof(MemConfig)
    cfg = MemConfig.from_buffer_copy(initial)
    assert cfg.self_tgid == SELF_PID
    assert cfg.args_at_exit == 1
    assert cfg.enforce == int(enforce)
    assert (cfg.watch_ptrace, cfg.watch_process_vm, cfg.watch_proc_mem) == tuple(map(int, watch))


def test_populate_writes_comms_and_executables(caplog: pytest.LogCaptureFixture) -> None:
    obj = FakeObject(MEM_PROGRAMS)
    with caplog.at_level(logging.INFO, logger="bee_trace.probes.memory"):
        make_probe().populate(bpf(obj))
    comms = obj.map("allowed_comms").updates
    # padded with NULs to the kernel's 16 bytes
    assert comms == [
        (b"gdb".ljust(16, b"\0"), b"\x01"),
        (b"fifteen-bytes-x\0", b"\x01"),
    ]
    st = Path(sys.executable).stat()
    ((key, value),) = obj.map("allowed_exes").updates
    exe = ExeId.from_buffer_copy(key)
    assert (exe.ino, exe.dev, value) == (st.st_ino, kernel_dev(st.st_dev), b"\x01")
    # a missing executable is logged and left out
    assert "/nonexistent/bin/tool not allowed: No such file or directory" in caplog.text
    assert "memory enforcement on" not in caplog.text


def test_populate_says_when_enforcing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bee_trace.probes.memory"):
        make_probe(enforce=True).populate(bpf(FakeObject(MEM_PROGRAMS)))
    assert "memory enforcement on: accessors not allowed are killed" in caplog.text


def test_populate_of_an_empty_allow_list() -> None:
    ctx = ProbeContext(
        policy=parse_policy("version: 1\n", "test"), self_pid=SELF_PID, boot_to_utc_ns=0
    )
    obj = FakeObject(MEM_PROGRAMS)
    MemoryProbe(ctx).populate(bpf(obj))
    assert obj.map("allowed_comms").updates == []
    assert obj.map("allowed_exes").updates == []


# what the probe takes from the base class


# the programs of memory_monitor.bpf.o and their sections
MEM_PROGRAMS = {
    "enter_ptrace": "tracepoint/syscalls/sys_enter_ptrace",
    "exit_ptrace": "tracepoint/syscalls/sys_exit_ptrace",
    "enter_vm_readv": "tracepoint/syscalls/sys_enter_process_vm_readv",
    "exit_vm_readv": "tracepoint/syscalls/sys_exit_process_vm_readv",
    "enter_vm_writev": "tracepoint/syscalls/sys_enter_process_vm_writev",
    "exit_vm_writev": "tracepoint/syscalls/sys_exit_process_vm_writev",
    "mem_exit_openat": "tracepoint/syscalls/sys_exit_openat",
}
EXIT_PROGRAMS = [n for n in MEM_PROGRAMS if n not in MemoryProbe.entry_programs]


def test_attach_attaches_every_exit_program(probe: MemoryProbe) -> None:
    obj = FakeObject(MEM_PROGRAMS)
    probe.configure(bpf(obj))
    names = probe.attach(bpf(obj))
    shared = [("mem_exit_openat", "syscalls", e) for e in ("sys_exit_open", "sys_exit_openat2")]
    assert names == EXIT_PROGRAMS + [f"{n}@{e}" for n, _, e in shared]
    assert obj.attached == EXIT_PROGRAMS
    assert obj.also == shared
    assert obj.autoload == dict.fromkeys(MemoryProbe.entry_programs, False)


@pytest.mark.usefixtures("kernel_without_task_regs")
def test_attach_keeps_entry_programs_on_older_kernels(probe: MemoryProbe) -> None:
    obj = FakeObject(MEM_PROGRAMS)
    probe.configure(bpf(obj))
    probe.attach(bpf(obj))
    assert obj.attached == list(MEM_PROGRAMS)
    assert MemConfig.from_buffer_copy(obj.map(".rodata").initial or b"").args_at_exit == 0


def test_handed_off_open_program_is_loaded_not_attached(probe: MemoryProbe) -> None:
    obj = FakeObject(MEM_PROGRAMS)
    probe.handed_off = True
    probe.configure(bpf(obj))
    names = probe.attach(bpf(obj))
    assert "mem_exit_openat" not in obj.attached
    assert obj.also == []
    assert names == [n for n in EXIT_PROGRAMS if n != "mem_exit_openat"]


@pytest.mark.parametrize("final", [False, True])
def test_flush_holds_nothing_back(probe: MemoryProbe, *, final: bool) -> None:
    assert probe.flush(bpf(FakeObject(MEM_PROGRAMS)), final=final) == []
