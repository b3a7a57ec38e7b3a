"""A small, typed binding to the system's ``libbpf.so.1``.

libbpf opens, relocates (CO-RE), loads and attaches the kernel programs and
serves maps and the ring buffer. This module wraps just the calls bee-trace
makes, in the order libbpf expects them: open, configure, load, attach.
Every failure becomes a :class:`~bee_trace.errors.LoadError` carrying the
errno and whatever libbpf logged while the call ran.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import select
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from bee_trace.errors import LoadError

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

LIBBPF_SONAME: Final = "libbpf.so.1"
LIBBPF_MIN_VERSION: Final = (1, 1)
_DETACH_THREADS: Final = 16

_BTF_KIND_STRUCT: Final = 4
_BTF_KIND_FUNC_PROTO_MASK: Final = 0x1F
_BTF_KIND_FLAG_BIT: Final = 31
_BTF_KIND_SHIFT: Final = 24
_BTF_VLEN_MASK: Final = 0xFFFF

_LIBBPF_WARN: Final = 0
_LIBBPF_INFO: Final = 1

# int (*)(enum libbpf_print_level, const char *fmt, va_list ap)
_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
# int (*)(void *ctx, void *data, size_t size)
_SAMPLE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
# void (*)(void *ctx, int cpu, void *data, __u32 size)
_PERF_SAMPLE_FN = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32
)
# void (*)(void *ctx, int cpu, __u64 cnt)
_PERF_LOST_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64)

# enum bpf_map_type and enum bpf_prog_type (uapi linux/bpf.h)
BPF_MAP_TYPE_RINGBUF: Final = 27
BPF_PROG_TYPE_CGROUP_SOCK_ADDR: Final = 18
BPF_PROG_TYPE_TRACEPOINT: Final = 5
BPF_FUNC_GET_CURRENT_TASK_BTF: Final = 158
BPF_FUNC_TASK_PT_REGS: Final = 175


class _BtfType(ctypes.Structure):
    _fields_ = (("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32), ("size", ctypes.c_uint32))


class _BtfMember(ctypes.Structure):
    _fields_ = (
        ("name_off", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("offset", ctypes.c_uint32),
    )


class _ProgInfo(ctypes.Structure):
    """``struct bpf_prog_info`` (uapi ``linux/bpf.h``) up to ``verified_insns`` (Linux 5.16)."""

    _fields_ = (
        ("type", ctypes.c_uint32),
        ("id", ctypes.c_uint32),
        ("tag", ctypes.c_uint8 * 8),
        ("jited_prog_len", ctypes.c_uint32),
        ("xlated_prog_len", ctypes.c_uint32),
        ("_pointers", ctypes.c_uint64 * 3),  # jited/xlated insns, load_time
        ("created_by_uid", ctypes.c_uint32),
        ("nr_map_ids", ctypes.c_uint32),
        ("map_ids", ctypes.c_uint64),
        ("name", ctypes.c_char * 16),
        ("_middle", ctypes.c_uint8 * 112),  # ifindex ... prog_tags
        ("run_time_ns", ctypes.c_uint64),  # with kernel.bpf_stats_enabled
        ("run_cnt", ctypes.c_uint64),
        ("recursion_misses", ctypes.c_uint64),
        ("verified_insns", ctypes.c_uint32),
        ("_attach_btf", ctypes.c_uint32 * 2),
    )


def _load_library() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    try:
        lib = ctypes.CDLL(LIBBPF_SONAME, use_errno=True)
    except OSError as exc:
        msg = f"cannot load {LIBBPF_SONAME}: {exc} (install libbpf1, version 1.1 or newer)"
        raise LoadError(msg) from exc
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _declare(lib, libc)
    return lib, libc


def _declare(lib: ctypes.CDLL, libc: ctypes.CDLL) -> None:
    vp, cp, i, u32, sz = (
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
        ctypes.c_size_t,
    )
    signatures: dict[str, tuple[object, list[object]]] = {
        "libbpf_major_version": (u32, []),
        "libbpf_minor_version": (u32, []),
        "libbpf_set_print": (vp, [_PRINT_FN]),
        "libbpf_get_error": (ctypes.c_long, [vp]),
        "bpf_object__open_file": (vp, [cp, vp]),
        "bpf_object__load": (i, [vp]),
        "bpf_object__close": (None, [vp]),
        "bpf_object__btf": (vp, [vp]),
        "bpf_object__find_program_by_name": (vp, [vp, cp]),
        "bpf_object__find_map_by_name": (vp, [vp, cp]),
        "bpf_object__next_program": (vp, [vp, vp]),
        "bpf_program__name": (cp, [vp]),
        "bpf_program__section_name": (cp, [vp]),
        "bpf_program__set_autoload": (i, [vp, ctypes.c_bool]),
        "bpf_program__attach": (vp, [vp]),
        "bpf_program__attach_cgroup": (vp, [vp, i]),
        "bpf_program__attach_tracepoint": (vp, [vp, cp, cp]),
        "bpf_program__fd": (i, [vp]),
        "bpf_program__set_log_level": (i, [vp, u32]),
        "bpf_program__set_log_buf": (i, [vp, vp, sz]),
        "bpf_program__insns": (vp, [vp]),
        "bpf_program__insn_cnt": (sz, [vp]),
        "bpf_object__next_map": (vp, [vp, vp]),
        "bpf_map__name": (cp, [vp]),
        "bpf_obj_get_info_by_fd": (i, [i, vp, ctypes.POINTER(u32)]),
        "bpf_prog_get_next_id": (i, [u32, ctypes.POINTER(u32)]),
        "bpf_prog_get_fd_by_id": (i, [u32]),
        "bpf_link__destroy": (i, [vp]),
        "bpf_map__fd": (i, [vp]),
        "bpf_map__type": (i, [vp]),
        "bpf_map__set_max_entries": (i, [vp, u32]),
        "bpf_map__max_entries": (u32, [vp]),
        "bpf_map__initial_value": (vp, [vp, ctypes.POINTER(sz)]),
        "bpf_map__update_elem": (i, [vp, vp, sz, vp, sz, ctypes.c_uint64]),
        "bpf_map__lookup_elem": (i, [vp, vp, sz, vp, sz, ctypes.c_uint64]),
        "bpf_map__delete_elem": (i, [vp, vp, sz, ctypes.c_uint64]),
        "bpf_map__get_next_key": (i, [vp, vp, vp, sz]),
        "ring_buffer__new": (vp, [i, _SAMPLE_FN, vp, vp]),
        "ring_buffer__add": (i, [vp, i, _SAMPLE_FN, vp]),
        "ring_buffer__poll": (i, [vp, i]),
        "ring_buffer__consume": (i, [vp]),
        "ring_buffer__free": (None, [vp]),
        "perf_buffer__new": (vp, [i, sz, _PERF_SAMPLE_FN, _PERF_LOST_FN, vp, vp]),
        "perf_buffer__poll": (i, [vp, i]),
        "perf_buffer__consume": (i, [vp]),
        "perf_buffer__free": (None, [vp]),
        "perf_buffer__epoll_fd": (i, [vp]),
        "libbpf_probe_bpf_map_type": (i, [i, vp]),
        "libbpf_probe_bpf_prog_type": (i, [i, vp]),
        "libbpf_probe_bpf_helper": (i, [i, i, vp]),
        "btf__find_by_name_kind": (ctypes.c_int32, [vp, cp, u32]),
        "btf__type_by_id": (ctypes.POINTER(_BtfType), [vp, u32]),
        "btf__name_by_offset": (cp, [vp, u32]),
        "btf__resolve_size": (ctypes.c_long, [vp, u32]),
        "libbpf_num_possible_cpus": (i, []),
        "libbpf_strerror": (i, [i, cp, sz]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    libc.vsnprintf.restype = i
    libc.vsnprintf.argtypes = [ctypes.c_char_p, sz, cp, vp]


_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None
_lib_lock = threading.Lock()
# the warnings of the libbpf call running on each thread (see _capture)
_captured = threading.local()
_print_cb: object = None


def _print(level: int, fmt: bytes | None, ap: int | None) -> int:
    """Route libbpf's messages to logging; keep warnings of the current call."""
    if _libc is None or fmt is None:  # pragma: no cover - set before libbpf can print
        return 0
    if level > _LIBBPF_INFO and not log.isEnabledFor(logging.DEBUG):
        # libbpf's debug lines (about 1,500 per start) go nowhere: do not format them
        return 0
    buf = ctypes.create_string_buffer(4096)
    _libc.vsnprintf(buf, len(buf), fmt, ap)
    # libbpf starts its own messages with "libbpf: "; we add that prefix ourselves
    text = buf.value.decode("utf-8", "replace").rstrip("\n").removeprefix("libbpf: ")
    lines: list[str] | None = getattr(_captured, "lines", None)
    if lines is not None and level <= _LIBBPF_INFO:
        lines.append(text)
    log.debug("libbpf: %s", text)
    return 0


def lib() -> ctypes.CDLL:
    """Return the loaded libbpf, loading and checking it on first use."""
    global _lib, _libc, _print_cb  # noqa: PLW0603 - one process-wide library handle
    with _lib_lock:
        if _lib is None:
            loaded, _libc = _load_library()
            version = (loaded.libbpf_major_version(), loaded.libbpf_minor_version())
            if version < LIBBPF_MIN_VERSION:
                found = ".".join(map(str, version))
                msg = f"libbpf {found} is too old: bee-trace needs 1.1 or newer"
                raise LoadError(msg)
            _print_cb = _PRINT_FN(_print)
            loaded.libbpf_set_print(_print_cb)
            _lib = loaded
        return _lib


@contextmanager
def _capture() -> Iterator[list[str]]:
    """Collect libbpf's warnings while a call runs on this thread, for the error message.

    libbpf's print callback is process-wide but runs on the thread that made
    the call, so objects loaded side by side keep their messages apart.
    """
    lines: list[str] = []
    _captured.lines = lines
    try:
        yield lines
    finally:
        _captured.lines = None


# libbpf's own error codes (libbpf.h: LIBBPF_ERRNO__START) have no errno name
_LIBBPF_ERRNO_START: Final = 4000


def _reason(err: int) -> str:
    if err < _LIBBPF_ERRNO_START or _lib is None:
        return os.strerror(err)
    buf = ctypes.create_string_buffer(256)
    _lib.libbpf_strerror(err, buf, len(buf))
    return buf.value.decode("utf-8", "replace")


def _fail(what: str, err: int, log_lines: list[str]) -> LoadError:
    name = errno.errorcode.get(err, f"libbpf error {err}")
    detail = f"{what}: {name} ({_reason(err)})"
    tail = [line for line in log_lines if line.strip()][-12:]
    if tail:
        detail += "\n" + "\n".join(f"  libbpf: {line}" for line in tail)
    error = LoadError(detail)
    error.errno = err
    return error


def _ptr_error(ptr: int | None) -> int:
    """Libbpf 1.x returns NULL and sets errno on failure."""
    if ptr:
        return 0
    return ctypes.get_errno() or errno.EINVAL


@dataclass(frozen=True, slots=True)
class StructLayout:
    """A struct as the object's BTF declares it: size and member offsets."""

    name: str
    size: int
    offsets: dict[str, int]


@dataclass(frozen=True, slots=True)
class ProgramInfo:
    """What the kernel says about a loaded program (``bpf_prog_info``)."""

    id: int
    verified_insns: int  # 0 before Linux 5.16
    xlated_bytes: int
    jited_bytes: int
    map_count: int


@dataclass(frozen=True, slots=True)
class ProgramStats:
    """A loaded program's run-time accounting (``kernel.bpf_stats_enabled``)."""

    id: int
    name: str
    run_time_ns: int
    run_cnt: int


def loaded_programs() -> dict[int, ProgramStats]:
    """Every BPF program the kernel holds now, whoever loaded it, by id."""
    lb = lib()
    found: dict[int, ProgramStats] = {}
    current = ctypes.c_uint32(0)
    # the kernel hands out ids in increasing order, so this ends
    while lb.bpf_prog_get_next_id(current.value, ctypes.byref(current)) == 0:
        fd = lb.bpf_prog_get_fd_by_id(current.value)
        if fd < 0:
            continue  # unloaded meanwhile
        try:
            info = _ProgInfo()
            size = ctypes.c_uint32(ctypes.sizeof(info))
            err = lb.bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size))
        finally:
            os.close(fd)
        if err:
            what = f"cannot read program {current.value}"
            raise _fail(what, -err, [])
        found[int(info.id)] = ProgramStats(
            id=int(info.id),
            name=info.name.decode("utf-8", "replace"),
            run_time_ns=int(info.run_time_ns),
            run_cnt=int(info.run_cnt),
        )
    return found


class BpfLink:
    """An attached program; destroying it detaches."""

    def __init__(self, ptr: int, program: str) -> None:
        """Own the ``struct bpf_link *``."""
        self._ptr: int | None = ptr
        self.program = program

    @property
    def attached(self) -> bool:
        """Whether destroy has not run yet."""
        return bool(self._ptr)

    def destroy(self) -> None:
        """Detach. Safe to call twice."""
        if self._ptr:
            lib().bpf_link__destroy(self._ptr)
            self._ptr = None


class BpfMap:
    """A map of a loaded (or opened) object."""

    def __init__(self, ptr: int, name: str) -> None:
        """Wrap a ``struct bpf_map *`` owned by its object."""
        self._ptr = ptr
        self.name = name

    @property
    def fd(self) -> int:
        """The map's file descriptor (after load)."""
        return int(lib().bpf_map__fd(self._ptr))

    @property
    def map_type(self) -> int:
        """The map's ``enum bpf_map_type``."""
        return int(lib().bpf_map__type(self._ptr))

    @property
    def max_entries(self) -> int:
        """The map's size: entries, or bytes for a ring buffer."""
        return int(lib().bpf_map__max_entries(self._ptr))

    def set_max_entries(self, entries: int) -> None:
        """Resize the map before load (a ring buffer takes its size in bytes)."""
        err = lib().bpf_map__set_max_entries(self._ptr, entries)
        if err:
            msg = f"cannot set map {self.name} to {entries} entries"
            raise _fail(msg, -err, [])

    def set_initial_value(self, data: bytes) -> None:
        """Write the start of a global-data map (``.rodata``) before load."""
        size = ctypes.c_size_t(0)
        ptr = lib().bpf_map__initial_value(self._ptr, ctypes.byref(size))
        if not ptr or size.value < len(data):
            msg = f"map {self.name} holds {size.value} bytes, cannot take {len(data)}"
            raise LoadError(msg)
        ctypes.memmove(ptr, data, len(data))

    def update(self, key: bytes, value: bytes) -> None:
        """Insert or replace one element."""
        err = lib().bpf_map__update_elem(self._ptr, key, len(key), value, len(value), 0)
        if err:
            msg = f"cannot update map {self.name}"
            raise _fail(msg, -err, [])

    def lookup(self, key: bytes, value_size: int) -> bytes | None:
        """Return the raw value for key, or None when absent."""
        out = ctypes.create_string_buffer(value_size)
        err = lib().bpf_map__lookup_elem(self._ptr, key, len(key), out, value_size, 0)
        if err == -errno.ENOENT:
            return None
        if err:
            msg = f"cannot read map {self.name}"
            raise _fail(msg, -err, [])
        return out.raw

    def delete(self, key: bytes) -> bool:
        """Remove one element; return whether it was there."""
        err = lib().bpf_map__delete_elem(self._ptr, key, len(key), 0)
        if err == -errno.ENOENT:
            return False
        if err:
            what = f"cannot remove an element of map {self.name}"  # not SQL: a message
            raise _fail(what, -err, [])
        return True

    def keys(self, key_size: int) -> list[bytes]:
        """Every key, as raw bytes (a snapshot: the kernel may change the map meanwhile)."""
        out: list[bytes] = []
        prev: ctypes.Array[ctypes.c_char] | None = None
        while True:
            nxt = ctypes.create_string_buffer(key_size)
            err = lib().bpf_map__get_next_key(self._ptr, prev, nxt, key_size)
            if err == -errno.ENOENT:
                return out
            if err:
                what = f"cannot list map {self.name}"
                raise _fail(what, -err, [])
            out.append(nxt.raw)
            prev = nxt


def detach_all(links: list[BpfLink]) -> None:
    """Destroy links side by side.

    Detaching a tracepoint program waits for an RCU grace period (about 60 ms
    here); one after another, 26 links took 1.6 s. From threads (ctypes lets
    go of the GIL) the waits overlap.
    """
    live = [link for link in links if link.attached]
    if len(live) <= 1:
        for link in live:
            link.destroy()
        return
    with ThreadPoolExecutor(max_workers=min(len(live), _DETACH_THREADS)) as pool:
        for done in [pool.submit(link.destroy) for link in live]:
            done.result()


class BpfObject:
    """One BPF object file: open, configure, load, attach, close."""

    def __init__(self, path: Path) -> None:
        """Open the object (no kernel calls yet besides feature probes)."""
        self.path = path
        self.links: list[BpfLink] = []
        # verifier log buffers handed to libbpf: kept alive until close
        self._logs: dict[str, ctypes.Array[ctypes.c_char]] = {}
        with _capture() as lines:
            ptr = lib().bpf_object__open_file(os.fsencode(path), None)
            err = _ptr_error(ptr)
        if err:
            msg = f"cannot open BPF object {path}"
            raise _fail(msg, err, lines)
        self._ptr: int | None = ptr

    @property
    def ptr(self) -> int:
        """The ``struct bpf_object *``; raises once closed."""
        if not self._ptr:
            msg = f"BPF object {self.path} is closed"
            raise LoadError(msg)
        return self._ptr

    def map(self, name: str) -> BpfMap:
        """Find a map by name (``.rodata`` maps are named ``<obj>.rodata``)."""
        ptr = lib().bpf_object__find_map_by_name(self.ptr, name.encode())
        if not ptr:
            msg = f"BPF object {self.path.name} has no map {name}"
            raise LoadError(msg)
        return BpfMap(ptr, name)

    def program_names(self) -> list[str]:
        """Names of every program in the object, in object order."""
        names: list[str] = []
        prog = lib().bpf_object__next_program(self.ptr, None)
        while prog:
            names.append(lib().bpf_program__name(prog).decode())
            prog = lib().bpf_object__next_program(self.ptr, prog)
        return names

    def map_names(self) -> list[str]:
        """Names of every map in the object, in object order."""
        names: list[str] = []
        m = lib().bpf_object__next_map(self.ptr, None)
        while m:
            names.append(lib().bpf_map__name(m).decode())
            m = lib().bpf_object__next_map(self.ptr, m)
        return names

    def _program(self, name: str) -> int:
        ptr = lib().bpf_object__find_program_by_name(self.ptr, name.encode())
        if not ptr:
            msg = f"BPF object {self.path.name} has no program {name}"
            raise LoadError(msg)
        return int(ptr)

    def set_autoload(self, name: str, *, enabled: bool) -> None:
        """Choose, before load, whether a program is loaded at all."""
        lib().bpf_program__set_autoload(self._program(name), enabled)

    def section(self, name: str) -> str:
        """The ELF section (hook) a program was declared for."""
        return str(lib().bpf_program__section_name(self._program(name)).decode())

    def set_log(self, name: str, *, level: int, size_bytes: int = 1 << 16) -> None:
        """Before load, ask the verifier for a log of a program (level 4: statistics)."""
        buf = ctypes.create_string_buffer(size_bytes)
        prog = self._program(name)
        lb = lib()
        err = lb.bpf_program__set_log_buf(prog, buf, size_bytes)
        err = err or lb.bpf_program__set_log_level(prog, level)
        if err:
            msg = f"cannot set the verifier log of {name}"
            raise _fail(msg, -err, [])
        self._logs[name] = buf

    def program_log(self, name: str) -> str:
        """The verifier's log of a program asked for with :meth:`set_log`."""
        buf = self._logs.get(name)
        if buf is None:
            msg = f"no verifier log was asked for program {name}"
            raise LoadError(msg)
        return buf.value.decode("utf-8", "replace")

    def program_insns(self, name: str) -> bytes:
        """A program's instructions as libbpf holds them (after load: as submitted)."""
        prog = self._program(name)
        count = int(lib().bpf_program__insn_cnt(prog))
        insns = lib().bpf_program__insns(prog)
        return ctypes.string_at(insns, count * 8) if insns else b""

    def program_fd(self, name: str) -> int:
        """The descriptor of a loaded program, for a program array."""
        fd = int(lib().bpf_program__fd(self._program(name)))
        if fd < 0:
            msg = f"program {name} of {self.path.name} is not loaded"
            raise LoadError(msg)
        return fd

    def program_info(self, name: str) -> ProgramInfo:
        """What the kernel says about a loaded program: sizes and verifier work."""
        fd = self.program_fd(name)
        info = _ProgInfo()
        size = ctypes.c_uint32(ctypes.sizeof(info))
        err = lib().bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size))
        if err:
            msg = f"cannot read the kernel's information on program {name}"
            raise _fail(msg, -err, [])
        return ProgramInfo(
            id=int(info.id),
            verified_insns=int(info.verified_insns),
            xlated_bytes=int(info.xlated_prog_len),
            jited_bytes=int(info.jited_prog_len),
            map_count=int(info.nr_map_ids),
        )

    def load(self) -> None:
        """Relocate against the kernel's BTF and load into the kernel."""
        with _capture() as lines:
            err = lib().bpf_object__load(self.ptr)
        if err:
            msg = f"cannot load {self.path.name} into the kernel"
            raise _fail(msg, -err, lines)

    def attach(self, name: str) -> BpfLink:
        """Attach one program to the hook its section names."""
        with _capture() as lines:
            ptr = lib().bpf_program__attach(self._program(name))
            err = _ptr_error(ptr)
        if err:
            msg = f"cannot attach {name} ({self.section(name)})"
            raise _fail(msg, err, lines)
        link = BpfLink(ptr, name)
        self.links.append(link)
        return link

    def attach_tracepoint(self, name: str, category: str, event: str) -> BpfLink:
        """Attach one program to a tracepoint other than the one its section names."""
        with _capture() as lines:
            ptr = lib().bpf_program__attach_tracepoint(
                self._program(name), category.encode(), event.encode()
            )
            err = _ptr_error(ptr)
        if err:
            msg = f"cannot attach {name} to tracepoint {category}/{event}"
            raise _fail(msg, err, lines)
        link = BpfLink(ptr, name)
        self.links.append(link)
        return link

    def attach_cgroup(self, name: str, cgroup_fd: int) -> BpfLink:
        """Attach a cgroup program (sock_addr hooks) to the cgroup behind cgroup_fd."""
        with _capture() as lines:
            ptr = lib().bpf_program__attach_cgroup(self._program(name), cgroup_fd)
            err = _ptr_error(ptr)
        if err:
            what = f"cannot attach {name} ({self.section(name)}) to a cgroup"
            raise _fail(what, err, lines)
        link = BpfLink(ptr, name)
        self.links.append(link)
        return link

    def struct_layout(self, name: str) -> StructLayout:
        """Read a struct's size and member offsets from the object's BTF."""
        lb = lib()
        btf = lb.bpf_object__btf(self.ptr)
        type_id = lb.btf__find_by_name_kind(btf, name.encode(), _BTF_KIND_STRUCT) if btf else -1
        if type_id < 0:
            msg = f"BPF object {self.path.name} has no BTF for struct {name}"
            raise LoadError(msg)
        t = lb.btf__type_by_id(btf, type_id).contents
        vlen = t.info & _BTF_VLEN_MASK
        bitfields = (t.info >> _BTF_KIND_FLAG_BIT) & 1
        members_addr = ctypes.addressof(t) + ctypes.sizeof(_BtfType)
        members = (_BtfMember * vlen).from_address(members_addr)
        offsets: dict[str, int] = {}
        for m in members:
            bit_offset = m.offset & 0xFFFFFF if bitfields else m.offset
            offsets[lb.btf__name_by_offset(btf, m.name_off).decode()] = bit_offset // 8
        return StructLayout(name=name, size=int(t.size), offsets=offsets)

    def detach(self) -> None:
        """Destroy every link this object made."""
        detach_all(self.links)
        self.links.clear()

    def close(self) -> None:
        """Detach, unload and free. Safe to call twice."""
        self.detach()
        if self._ptr:
            lib().bpf_object__close(self._ptr)
            self._ptr = None


def possible_cpus() -> int:
    """Number of possible CPUs: the stride of per-CPU map values."""
    n = int(lib().libbpf_num_possible_cpus())
    if n <= 0:
        msg = "cannot count possible CPUs"
        raise _fail(msg, -n, [])
    return n


def map_type_supported(map_type: int) -> bool:
    """Whether the running kernel can create maps of this type (a probe, not a version check)."""
    rc = int(lib().libbpf_probe_bpf_map_type(map_type, None))
    if rc < 0:
        log.debug("cannot probe map type %d: %s", map_type, _reason(-rc))
    return rc == 1


def prog_type_supported(prog_type: int) -> bool:
    """Whether the running kernel can load programs of this type."""
    rc = int(lib().libbpf_probe_bpf_prog_type(prog_type, None))
    if rc < 0:
        log.debug("cannot probe program type %d: %s", prog_type, _reason(-rc))
    return rc == 1


@functools.cache
def helper_supported(prog_type: int, helper: int) -> bool:
    """Whether programs of prog_type may call the helper numbered helper on this kernel."""
    rc = int(lib().libbpf_probe_bpf_helper(prog_type, helper, None))
    if rc < 0:
        log.debug("cannot probe helper %d for program type %d: %s", helper, prog_type, _reason(-rc))
    return rc == 1


def perf_pages_per_cpu(total_bytes: int, cpus: int, page_bytes: int) -> int:
    """Pages of each CPU's perf buffer: a power of two, together at most total_bytes.

    The ring buffer's size in the policy is shared out across the CPUs, so the
    fallback locks no more kernel memory than the ring buffer would; at least
    one page per CPU.
    """
    pages = max(total_bytes // (page_bytes * max(cpus, 1)), 1)
    return 1 << (pages.bit_length() - 1)


SampleHandler = Callable[[bytes], None]
LostHandler = Callable[[int], None]


class EventBuffer(Protocol):
    """What the runtime needs of a consumer of the kernel programs' events."""

    @property
    def lost(self) -> int:
        """Records the kernel could not hand over (perf buffers only; 0 otherwise)."""
        ...

    def add(
        self, bpf_map: BpfMap, handler: SampleHandler, on_lost: LostHandler | None = None
    ) -> None:
        """Deliver each record of bpf_map to handler; report losses to on_lost."""
        ...

    def poll(self, timeout_ms: int) -> int:
        """Wait up to timeout_ms for records and deliver them; return how many."""
        ...

    def consume(self) -> int:
        """Deliver whatever is already in the buffers, without waiting."""
        ...

    def close(self) -> None:
        """Free the consumer. Safe to call twice."""
        ...


class RingBuffer:
    """Consumes one or more BPF ring buffer maps through one epoll set."""

    # a ring buffer loses nothing between kernel and consumer: a full buffer
    # fails bpf_ringbuf_output, which the kernel program counts
    lost = 0

    def __init__(self) -> None:
        """Start empty; add maps with :meth:`add`."""
        self._ptr: int | None = None
        # keep every callback alive as long as libbpf may call it
        self._callbacks: list[object] = []
        self.error: BaseException | None = None

    def add(
        self, bpf_map: BpfMap, handler: SampleHandler, on_lost: LostHandler | None = None
    ) -> None:
        """Deliver each record of bpf_map to handler, as bytes."""
        del on_lost  # nothing is lost past the kernel program's own count

        def on_sample(_ctx: int | None, data: int | None, size: int) -> int:
            try:
                handler(ctypes.string_at(data, size) if data else b"")
            except BaseException as exc:  # noqa: BLE001 - re-raised after poll returns
                self.error = exc
                return -errno.ECANCELED
            return 0

        cb = _SAMPLE_FN(on_sample)
        self._callbacks.append(cb)
        lb = lib()
        with _capture() as lines:
            if self._ptr is None:
                ptr = lb.ring_buffer__new(bpf_map.fd, cb, None, None)
                err = _ptr_error(ptr)
                if not err:
                    self._ptr = ptr
            else:
                err = -lb.ring_buffer__add(self._ptr, bpf_map.fd, cb, None)
        if err:
            msg = f"cannot consume ring buffer {bpf_map.name}"
            raise _fail(msg, err, lines)

    def _run(self, rc: int) -> int:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        if rc < 0 and rc != -errno.EINTR:
            msg = "ring buffer poll failed"
            raise _fail(msg, -rc, [])
        return max(rc, 0)

    def poll(self, timeout_ms: int) -> int:
        """Wait up to timeout_ms for records and deliver them; return how many."""
        if self._ptr is None:
            return 0
        return self._run(lib().ring_buffer__poll(self._ptr, timeout_ms))

    def consume(self) -> int:
        """Deliver whatever is already in the buffers, without waiting."""
        if self._ptr is None:
            return 0
        return self._run(lib().ring_buffer__consume(self._ptr))

    def close(self) -> None:
        """Free the consumer. Safe to call twice."""
        if self._ptr:
            lib().ring_buffer__free(self._ptr)
            self._ptr = None


class PerfBuffer:
    """Consumes BPF perf event array maps: the fallback where there is no ring buffer.

    libbpf opens one perf buffer per CPU for each map and counts what the
    kernel could not write into a full one; those lost samples reach
    ``lost`` and each map's ``on_lost``, so none goes unseen.
    """

    def __init__(self, page_cnt: int) -> None:
        """Start empty; each map added gets page_cnt pages (a power of two) per CPU."""
        self.page_cnt = page_cnt
        self._buffers: list[int] = []
        self._callbacks: list[object] = []
        self._delivered = 0
        self._epoll: select.epoll | None = None
        self.lost = 0
        self.error: BaseException | None = None

    def add(
        self, bpf_map: BpfMap, handler: SampleHandler, on_lost: LostHandler | None = None
    ) -> None:
        """Deliver each record of bpf_map to handler, as bytes; losses to on_lost."""

        def on_sample(_ctx: int | None, _cpu: int, data: int | None, size: int) -> None:
            self._delivered += 1
            try:
                handler(ctypes.string_at(data, size) if data else b"")
            except BaseException as exc:  # noqa: BLE001 - re-raised after poll returns
                # keep delivering: the handler counts what it cannot take
                if self.error is None:
                    self.error = exc

        def on_lost_samples(_ctx: int | None, _cpu: int, count: int) -> None:
            self.lost += count
            if on_lost is not None:
                on_lost(count)

        sample_cb, lost_cb = _PERF_SAMPLE_FN(on_sample), _PERF_LOST_FN(on_lost_samples)
        self._callbacks += [sample_cb, lost_cb]
        with _capture() as lines:
            ptr = lib().perf_buffer__new(bpf_map.fd, self.page_cnt, sample_cb, lost_cb, None, None)
            err = _ptr_error(ptr)
        if err:
            msg = f"cannot consume perf buffer {bpf_map.name}"
            raise _fail(msg, err, lines)
        self._buffers.append(ptr)
        if self._epoll is None:
            self._epoll = select.epoll()
        self._epoll.register(lib().perf_buffer__epoll_fd(ptr), select.EPOLLIN)

    def poll(self, timeout_ms: int) -> int:
        """Wait up to timeout_ms for records and deliver them; return how many."""
        if self._epoll is None:
            return 0
        # one wait over every map's buffers, then take what each one holds
        self._epoll.poll(timeout_ms / 1000)
        return self.consume()

    def consume(self) -> int:
        """Deliver whatever is already in the buffers, without waiting."""
        self._delivered = 0
        failed = 0
        for ptr in self._buffers:
            failed = failed or min(int(lib().perf_buffer__consume(ptr)), 0)
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        if failed:
            msg = "perf buffer consume failed"
            raise _fail(msg, -failed, [])
        return self._delivered

    def close(self) -> None:
        """Free every perf buffer. Safe to call twice."""
        for ptr in self._buffers:
            lib().perf_buffer__free(ptr)
        self._buffers.clear()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
