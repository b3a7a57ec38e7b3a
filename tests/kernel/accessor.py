"""A scratch program that reads another process's memory, three ways.

Usage: accessor.py PID [ptrace|vm_readv|proc_mem|self ...] [--comm NAME]
Prints one line per access: the method and what it returned.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

PTRACE_PEEKDATA = 2
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
PR_SET_NAME = 15

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


class IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


libc.process_vm_readv.restype = ctypes.c_ssize_t
libc.process_vm_readv.argtypes = [
    ctypes.c_int,
    ctypes.POINTER(IoVec),
    ctypes.c_ulong,
    ctypes.POINTER(IoVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def first_readable(pid: int) -> int:
    with Path(f"/proc/{pid}/maps").open() as maps:
        for line in maps:
            span, perms = line.split()[:2]
            if perms.startswith("r"):
                return int(span.split("-")[0], 16)
    msg = "no readable mapping"
    raise SystemExit(msg)


def via_ptrace(pid: int, addr: int) -> str:
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        return f"attach errno={ctypes.get_errno()}"
    os.waitpid(pid, 0)
    ctypes.set_errno(0)
    word = libc.ptrace(PTRACE_PEEKDATA, pid, ctypes.c_void_p(addr), None)
    err = ctypes.get_errno()
    libc.ptrace(PTRACE_DETACH, pid, None, None)
    return f"peek errno={err} word={word & 0xFFFFFFFF:#x}"


def via_vm_readv(pid: int, addr: int) -> str:
    buf = ctypes.create_string_buffer(16)
    local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 16)
    remote = IoVec(ctypes.c_void_p(addr), 16)
    n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return f"read {n}"


def via_proc_mem(pid: int, addr: int) -> str:
    with Path(f"/proc/{pid}/mem").open("rb") as mem:
        mem.seek(addr)
        return f"read {len(mem.read(16))}"


def main() -> None:
    args = sys.argv[1:]
    if "--comm" in args:
        i = args.index("--comm")
        libc.prctl(PR_SET_NAME, args[i + 1].encode(), 0, 0, 0)
        del args[i : i + 2]
    pid = int(args[0])
    for method in args[1:]:
        target = os.getpid() if method.startswith("self") else pid
        addr = first_readable(target)
        name = method.removeprefix("self_")
        result = {"ptrace": via_ptrace, "vm_readv": via_vm_readv, "proc_mem": via_proc_mem}[name](
            target, addr
        )
        print(method, result, flush=True)  # noqa: T201 - the test reads these lines


main()
