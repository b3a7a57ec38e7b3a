"""file_monitor: opens for reading of watched files.

The kernel program pre-filters on the opened file's name and its parent's
name with the keys :func:`~bee_trace.policy.kernel_filter_keys` derives from
the policy; this module refines each record with the full pattern.
"""

from __future__ import annotations

import errno
import os
import struct
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar, Final

from bee_trace.events import resolve
from bee_trace.events.model import FileAccessEvent, process_info, utc_from_ns
from bee_trace.events.mounts import MountTable
from bee_trace.events.records import (
    AnyHeader,
    EventKind,
    FileConfig,
    FileEvent,
    FilterKey,
    mirrors_of,
)
from bee_trace.host.features import task_btf_missing
from bee_trace.policy import FilterKey as PolicyFilterKey
from bee_trace.policy import FilterKind, kernel_filter_keys
from bee_trace.policy.signatures import signature_set
from bee_trace.probes.base import Probe, ProbeContext

if TYPE_CHECKING:
    from bee_trace.bpf import BpfObject
    from bee_trace.policy.model import WatchPattern

_PATH_OFFSET: Final = FileEvent.path.offset

# the fixed fields after the header, read in one step instead of copying the
# whole (PATH_MAX-sized) mirror per record; checked against the mirror below
_FIXED: Final = struct.Struct("<iIiIHHB")
_FIXED_FIELDS: Final = ("result", "flags", "dfd", "dev", "syscall", "path_len", "path_source")
_FIXED_OFFSET: Final = FileEvent.result.offset
if [getattr(FileEvent, f).offset - _FIXED_OFFSET for f in _FIXED_FIELDS] != [
    struct.calcsize("<" + _FIXED.format[1 : i + 1]) for i in range(len(_FIXED_FIELDS))
]:  # pragma: no cover - the mirror and this format are edited together
    msg = "FileEvent mirror and its struct format disagree"
    raise ImportError(msg)

# distinct paths whose policy verdict is remembered; a flood repeats a few
_MATCH_CACHE_MAX: Final = 4096


class OpenSyscall(IntEnum):
    """``enum bt_open_syscall``."""

    OPEN = 1
    OPENAT = 2
    OPENAT2 = 3
    OPEN_BY_HANDLE_AT = 4


class PathSource(IntEnum):
    """``enum bt_file_path_source``."""

    RESOLVED = 1
    AS_PASSED = 2
    TRUNCATED = 3
    FS_RELATIVE = 4


_SYSCALL_NAMES: Final = {int(s): s.name.lower() for s in OpenSyscall}
_PATH_SOURCES: Final = frozenset(int(s) for s in PathSource)
# plain ints for decode, which runs per record: an enum member lookup costs more
_RESOLVED: Final = int(PathSource.RESOLVED)
_AS_PASSED: Final = int(PathSource.AS_PASSED)
_FS_RELATIVE: Final = int(PathSource.FS_RELATIVE)


def _syscall_name(syscall: int) -> str:
    name = _SYSCALL_NAMES.get(syscall)
    if name is None:
        msg = f"{syscall} is not a valid OpenSyscall"
        raise ValueError(msg)
    return name


class FileProbe(Probe):
    """Reads of sensitive files, through open, openat and openat2."""

    name: ClassVar[str] = "file_monitor"
    object_name: ClassVar[str] = "file_monitor.bpf.o"
    event_kind: ClassVar[int] = EventKind.FILE_ACCESS
    accepts_open_handoffs: ClassVar[bool] = True
    records: ClassVar[dict[str, type]] = mirrors_of(
        "bt_event_header",
        "bt_file_event",
        "bt_filter_key",
        "bt_file_config",
    )
    # the exit program serves every open: it tells them apart by syscall number
    also_attach: ClassVar[dict[str, tuple[str, ...]]] = {
        "exit_openat": ("sys_exit_open", "sys_exit_openat2", "sys_exit_open_by_handle_at"),
    }
    entry_programs: ClassVar[tuple[str, ...]] = (
        "enter_open",
        "enter_openat",
        "enter_openat2",
        "enter_open_by_handle_at",
    )

    def __init__(self, ctx: ProbeContext) -> None:
        """Nothing touches the kernel yet."""
        super().__init__(ctx)
        self._mounts = MountTable()
        self._rules: dict[bytes, WatchPattern | None] = {}

    def _policy_keys(self) -> tuple[PolicyFilterKey, ...]:
        keys = kernel_filter_keys(self.ctx.policy.files.watch_read)
        handoffs = tuple(PolicyFilterKey(FilterKind.HANDOFF, name) for name in self.handoff_names)
        return keys + handoffs

    def _keys(self) -> tuple[FilterKey, ...]:
        keys = []
        for key in self._policy_keys():
            k = FilterKey()
            k.kind = int(key.kind)
            k.len = len(key.value)
            k.value = key.value
            keys.append(k)
        return tuple(keys)

    def configure(self, obj: BpfObject) -> None:
        """Tell the program who we are, what the kernel offers and which keys to try."""
        cfg = FileConfig()
        cfg.self_tgid = self.ctx.self_pid
        cfg.task_btf = int(task_btf_missing(os.environ) is None)
        cfg.args_at_exit = int(self.choose_arg_source(obj))
        for key in self._keys():
            if key.kind == FilterKind.SUFFIX:
                cfg.suffix_lens |= 1 << key.len
            elif key.kind == FilterKind.PREFIX:
                cfg.prefix_lens |= 1 << key.len
            elif key.kind == FilterKind.DIRNAME:
                cfg.has_dirname = 1
            elif key.kind == FilterKind.HANDOFF:
                cfg.has_handoff = 1
        sigs = signature_set(self._policy_keys())
        cfg.sig_lens[:] = sigs.lens
        cfg.sig_bits[:] = sigs.words
        obj.map(".rodata").set_initial_value(bytes(cfg))

    def populate(self, obj: BpfObject) -> None:
        """Write the pre-filter keys."""
        # the loader keeps the policy within the map's size (KERNEL_FILTER_KEYS_MAX)
        filt = obj.map("filter")
        for key in self._keys():
            filt.update(bytes(key), b"\x01")

    def decode(self, header: AnyHeader, raw: bytes) -> FileAccessEvent | None:
        """Decode, make the path absolute and refine with the full pattern."""
        if len(raw) < _PATH_OFFSET:
            msg = f"file record of {len(raw)} bytes is shorter than its header"
            raise ValueError(msg)
        result, flags, dfd, dev, syscall, path_len, source = _FIXED.unpack_from(raw, _FIXED_OFFSET)
        if source not in _PATH_SOURCES:
            msg = f"{source} is not a valid PathSource"
            raise ValueError(msg)
        path = raw[_PATH_OFFSET : _PATH_OFFSET + path_len]
        resolved = source == _RESOLVED
        if source == _AS_PASSED:
            # a denied open names a file that exists: follow it to the end
            exists = -result in {errno.EACCES, errno.EPERM}
            path, resolved = resolve.absolute(path, header.pid, header.tid, dfd, follow_last=exists)
        elif source == _FS_RELATIVE:
            located = self._mounts.locate(dev, path)
            resolved = located is not None
            path = located if located is not None else path

        rule = self._match(path)
        if rule is None:
            return None
        return FileAccessEvent(
            timestamp=utc_from_ns(header.ts_boot_ns + self.ctx.boot_to_utc_ns),
            process=process_info(
                header.pid, header.tid, header.ppid, header.uid, bytes(header.comm)
            ),
            syscall=_syscall_name(syscall),
            path=path,
            flags=flags,
            result=result,
            resolved=resolved,
            rule=rule.raw,
        )

    def _match(self, path: bytes) -> WatchPattern | None:
        """The policy's verdict on path, remembered: a flood names few files, often."""
        try:
            return self._rules[path]
        except KeyError:
            pass
        if len(self._rules) >= _MATCH_CACHE_MAX:
            self._rules.clear()
        rule = self._rules[path] = self.ctx.policy.files.match(path)
        return rule
