"""FileProbe without a kernel: records built with the ctypes mirror, /proc and maps faked."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bee_trace.events import records
from bee_trace.events.mounts import MountTable, kernel_dev
from bee_trace.events.records import EventKind, FileEvent
from bee_trace.events.resolve import AT_FDCWD
from bee_trace.policy import FilterKind, kernel_filter_keys
from bee_trace.policy.signatures import SignatureSet, SigTag, signature_set
from bee_trace.probes.base import object_path
from bee_trace.probes.file import FileProbe, OpenSyscall, PathSource
from tests.fakes import FakeObject, bpf
from tests.unit.builders import DEAD_PID, SELF_PID, probe_context

if TYPE_CHECKING:
    from bee_trace.events.model import FileAccessEvent

PATH_OFFSET = FileEvent.path.offset
LONG_NAME = "x" * 70

POLICY = f"""\
version: 1
files:
  watch_read:
    - id_rsa
    - /etc/shadow
    - "/home/*/.aws/credentials"
    - "*.key"
    - "*.kdbx"
    - "secret_*"
    - "/etc/ssl/private/*"
    - {LONG_NAME}
"""


def make_probe(policy: str = POLICY) -> FileProbe:
    return FileProbe(probe_context(policy))


@pytest.fixture
def probe() -> FileProbe:
    return make_probe()


def record(  # noqa: PLR0913 - one keyword per field a test may change
    path: bytes,
    *,
    source: int = PathSource.RESOLVED,
    syscall: int = OpenSyscall.OPENAT,
    result: int = 3,
    flags: int = os.O_RDONLY,
    dfd: int = AT_FDCWD,
    dev: int = 0,
    pid: int = 4001,
    tid: int = 4002,
) -> tuple[records.EventHeader, bytes]:
    """A header and the record as the ring buffer carries it: path_len bytes and a NUL."""
    rec = FileEvent()
    rec.hdr.kind = EventKind.FILE_ACCESS
    rec.hdr.ts_boot_ns = 3_000_000_999_999
    rec.hdr.pid = pid
    rec.hdr.tid = tid
    rec.hdr.ppid = 1
    rec.hdr.uid = 1000
    rec.hdr.comm = b"cat"
    rec.result = result
    rec.flags = flags
    rec.dfd = dfd
    rec.dev = dev
    rec.syscall = syscall
    rec.path_len = len(path)
    rec.path_source = source
    rec.path = path
    size = PATH_OFFSET + len(path) + 1
    rec.hdr.size = size
    return rec.hdr, bytes(rec)[:size]


def decode(probe: FileProbe, path: bytes, **fields: object) -> FileAccessEvent | None:
    header, raw = record(path, **fields)  # type: ignore[arg-type]
    return probe.decode(header, raw)


def ours() -> dict[str, int]:
    """pid and tid of this thread: resolve reads its cwd from /proc."""
    return {"pid": os.getpid(), "tid": threading.get_native_id()}


# RESOLVED


def test_decode_resolved(probe: FileProbe) -> None:
    event = decode(probe, b"/home/u/.ssh/id_rsa", result=4, flags=os.O_RDONLY | os.O_CLOEXEC)
    assert event is not None
    assert event.path == b"/home/u/.ssh/id_rsa"
    assert event.resolved is True
    assert event.rule == "id_rsa"
    assert event.syscall == "openat"
    assert event.result == 4
    assert event.flags == os.O_RDONLY | os.O_CLOEXEC
    assert event.process.pid == 4001
    assert event.process.tid == 4002
    assert event.process.ppid == 1
    assert event.process.uid == 1000
    assert event.process.comm == b"cat"
    assert event.timestamp == datetime.fromtimestamp(1_790_003_000, tz=UTC).replace(microsecond=999)


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        (b"/etc/shadow", "/etc/shadow"),
        (b"/home/alice/.aws/credentials", "/home/*/.aws/credentials"),
        (b"/srv/tls/server.key", "*.key"),
        (b"/home/u/vault.kdbx", "*.kdbx"),
        (b"/opt/app/secret_token", "secret_*"),
        (b"/etc/ssl/private/site.pem", "/etc/ssl/private/*"),
        (b"/tmp/" + LONG_NAME.encode(), LONG_NAME),
        # names that are not UTF-8 stay bytes
        (b"/home/caf\xe9/.ssh/id_rsa", "id_rsa"),
    ],
)
def test_decode_rule_is_the_matching_pattern(probe: FileProbe, path: bytes, rule: str) -> None:
    event = decode(probe, path)
    assert event is not None
    assert event.rule == rule
    assert event.path == path


@pytest.mark.parametrize(
    "path",
    [
        # passed the kernel's pre-filter (same name, suffix, prefix or parent) but not the pattern
        b"/etc/shadow.bak",
        b"/var/backups/shadow",
        b"/root/.aws/credentials",
        b"/home/alice/sub/.aws/credentials",
        b"/etc/ssl/private/sub/site.pem",
        b"/tmp/" + LONG_NAME.encode() + b"y",
        b"/home/u/id_rsa.pub",
        b"/etc/passwd",
    ],
)
def test_decode_refines_with_the_full_pattern(probe: FileProbe, path: bytes) -> None:
    assert decode(probe, path) is None


@pytest.mark.parametrize(
    ("syscall", "name"),
    [
        (OpenSyscall.OPEN, "open"),
        (OpenSyscall.OPENAT, "openat"),
        (OpenSyscall.OPENAT2, "openat2"),
        (OpenSyscall.OPEN_BY_HANDLE_AT, "open_by_handle_at"),
    ],
)
def test_decode_syscall_names(probe: FileProbe, syscall: int, name: str) -> None:
    event = decode(probe, b"/etc/shadow", syscall=syscall)
    assert event is not None
    assert event.syscall == name


def test_decode_reads_only_path_len_bytes(probe: FileProbe) -> None:
    header, raw = record(b"/etc/shadow")
    # bytes after path_len (garbage a reused buffer could hold) are not part of the path
    event = probe.decode(header, raw + b"XYZ")
    assert event is not None
    assert event.path == b"/etc/shadow"


def test_decode_record_cut_inside_the_path(probe: FileProbe) -> None:
    header, raw = record(b"/etc/shadow")
    # the record ends before path_len: the path is what arrived
    assert probe.decode(header, raw[: PATH_OFFSET + len(b"/etc/shad")]) is None
    assert probe.decode(header, raw[:PATH_OFFSET]) is None


@pytest.mark.parametrize("cut", [0, 1, PATH_OFFSET - 1])
def test_decode_short_record_raises(probe: FileProbe, cut: int) -> None:
    header, raw = record(b"/etc/shadow")
    with pytest.raises(ValueError, match=f"file record of {cut} bytes is shorter than its header"):
        probe.decode(header, raw[:cut])


@pytest.mark.parametrize("source", [0, 5, 255])
def test_decode_bad_path_source_raises(probe: FileProbe, source: int) -> None:
    with pytest.raises(ValueError, match="PathSource"):
        decode(probe, b"/etc/shadow", source=source)


@pytest.mark.parametrize("syscall", [0, 5, 0xFFFF])
def test_decode_bad_syscall_raises(probe: FileProbe, syscall: int) -> None:
    with pytest.raises(ValueError, match="OpenSyscall"):
        decode(probe, b"/etc/shadow", syscall=syscall)


# AS_PASSED: the open failed and the kernel sent the name as passed


def test_decode_as_passed_absolute(probe: FileProbe) -> None:
    event = decode(probe, b"/nonexistent/d/../.ssh//id_rsa", source=PathSource.AS_PASSED, result=-2)
    assert event is not None
    assert event.path == b"/nonexistent/.ssh/id_rsa"
    assert event.resolved is True
    assert event.result == -errno.ENOENT


def test_decode_as_passed_relative_to_our_cwd(
    probe: FileProbe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    event = decode(
        probe, b".ssh/id_rsa", source=PathSource.AS_PASSED, result=-errno.ENOENT, **ours()
    )
    assert event is not None
    assert event.path == os.fsencode(Path(os.path.realpath(tmp_path)) / ".ssh" / "id_rsa")
    assert event.resolved is True
    assert event.rule == "id_rsa"


def test_decode_as_passed_relative_to_a_directory_fd(probe: FileProbe, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    dfd = os.open(keys, os.O_RDONLY | os.O_DIRECTORY)
    try:
        event = decode(
            probe,
            b"server.key",
            source=PathSource.AS_PASSED,
            result=-errno.ENOENT,
            dfd=dfd,
            **ours(),
        )
    finally:
        os.close(dfd)
    assert event is not None
    assert event.path == os.fsencode(Path(os.path.realpath(keys)) / "server.key")
    assert event.resolved is True


def test_decode_as_passed_relative_of_a_gone_process(probe: FileProbe) -> None:
    # no /proc entry to say where the name was looked up: kept as passed
    event = decode(
        probe,
        b".ssh/id_rsa",
        source=PathSource.AS_PASSED,
        result=-errno.ENOENT,
        pid=DEAD_PID,
        tid=DEAD_PID,
    )
    assert event is not None
    assert event.path == b".ssh/id_rsa"
    assert event.resolved is False


def test_decode_as_passed_relative_that_cannot_match(probe: FileProbe) -> None:
    # "/etc/shadow" needs the whole path: a bare "shadow" cannot be shown to match
    event = decode(
        probe, b"shadow", source=PathSource.AS_PASSED, result=-errno.ENOENT, pid=DEAD_PID
    )
    assert event is None


@pytest.mark.parametrize("err", [errno.EACCES, errno.EPERM])
def test_decode_denied_open_follows_the_final_symlink(
    probe: FileProbe, tmp_path: Path, err: int
) -> None:
    real = tmp_path / "id_rsa"
    real.write_bytes(b"key")
    link = tmp_path / "innocent"
    link.symlink_to(real)
    event = decode(probe, os.fsencode(link), source=PathSource.AS_PASSED, result=-err)
    assert event is not None
    assert event.path == os.fsencode(os.path.realpath(real))
    assert event.resolved is True
    assert event.rule == "id_rsa"


@pytest.mark.parametrize("err", [errno.ENOENT, errno.ELOOP, errno.EISDIR])
def test_decode_other_failures_do_not_follow_the_final_symlink(
    probe: FileProbe, tmp_path: Path, err: int
) -> None:
    real = tmp_path / "id_rsa"
    real.write_bytes(b"key")
    link = tmp_path / "innocent"
    link.symlink_to(real)
    assert decode(probe, os.fsencode(link), source=PathSource.AS_PASSED, result=-err) is None


def test_decode_directory_symlinks_are_followed_for_any_failure(
    probe: FileProbe, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    path = os.fsencode(tmp_path / "alias" / "id_rsa")
    event = decode(probe, path, source=PathSource.AS_PASSED, result=-errno.ENOENT)
    assert event is not None
    assert event.path == os.fsencode(Path(os.path.realpath(tmp_path / "real")) / "id_rsa")


def test_decode_denied_relative_symlink_from_our_cwd(
    probe: FileProbe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "id_rsa").write_bytes(b"key")
    (tmp_path / "innocent").symlink_to("id_rsa")
    monkeypatch.chdir(tmp_path)
    event = decode(probe, b"innocent", source=PathSource.AS_PASSED, result=-errno.EACCES, **ours())
    assert event is not None
    assert event.path == os.fsencode(Path(os.path.realpath(tmp_path)) / "id_rsa")


# TRUNCATED: deeper than the kernel's walk


def test_decode_truncated(probe: FileProbe) -> None:
    event = decode(probe, b"/deep/.ssh/id_rsa", source=PathSource.TRUNCATED)
    assert event is not None
    assert event.path == b"/deep/.ssh/id_rsa"
    assert event.resolved is False


def test_decode_truncated_needing_the_whole_path_is_dropped(probe: FileProbe) -> None:
    # the leading components are missing, so an absolute pattern cannot be matched
    assert decode(probe, b"/ssl/private/site.pem", source=PathSource.TRUNCATED) is None


# FS_RELATIVE: through a bind mount of part of a file system

DATA_DEV = kernel_dev(8, 17)
ROOTFS_DEV = kernel_dev(253, 2)
MOUNTINFO = (
    b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
    b"41 22 8:17 /data /srv rw - xfs /dev/sdb1 rw\n"
    b"42 22 253:2 /rootfs/etc /etc rw - ext4 /dev/mapper/c rw\n"
)


@pytest.fixture
def mounted(probe: FileProbe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileProbe:
    source = tmp_path / "mountinfo"
    source.write_bytes(MOUNTINFO)
    monkeypatch.setattr(probe, "_mounts", MountTable(source))
    return probe


@pytest.mark.parametrize(
    ("raw", "dev", "path", "resolved"),
    [
        pytest.param(b"/data/u/.ssh/id_rsa", DATA_DEV, b"/srv/u/.ssh/id_rsa", True, id="located"),
        pytest.param(
            b"/other/.ssh/id_rsa",
            kernel_dev(9, 9),
            b"/other/.ssh/id_rsa",
            False,
            id="not_mounted_here",
        ),
        pytest.param(
            b"/home/.ssh/id_rsa",
            DATA_DEV,
            b"/home/.ssh/id_rsa",
            False,
            id="outside_the_mounted_part",
        ),
    ],
)
def test_decode_fs_relative(
    mounted: FileProbe, raw: bytes, dev: int, path: bytes, *, resolved: bool
) -> None:
    event = decode(mounted, raw, source=PathSource.FS_RELATIVE, dev=dev)
    assert event is not None
    assert event.path == path
    assert event.resolved is resolved


def test_decode_fs_relative_located_then_matched_by_the_whole_path(mounted: FileProbe) -> None:
    # the file system's own path would not match "/etc/ssl/private/*"; where it is mounted does
    event = decode(
        mounted, b"/rootfs/etc/ssl/private/a.pem", source=PathSource.FS_RELATIVE, dev=ROOTFS_DEV
    )
    assert event is not None
    assert event.path == b"/etc/ssl/private/a.pem"
    assert event.rule == "/etc/ssl/private/*"
    assert event.resolved is True


def test_decode_fs_relative_unlocated_refined_away(mounted: FileProbe) -> None:
    path = b"/rootfs/etc/ssl/private/a.pem"
    assert decode(mounted, path, source=PathSource.FS_RELATIVE, dev=DATA_DEV) is None


def test_decode_fs_relative_mounted_since(
    probe: FileProbe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "mountinfo"
    source.write_bytes(b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
    monkeypatch.setattr(probe, "_mounts", MountTable(source))
    path = b"/data/.ssh/id_rsa"
    first = decode(probe, path, source=PathSource.FS_RELATIVE, dev=DATA_DEV)
    assert first is not None
    assert first.resolved is False
    source.write_bytes(MOUNTINFO)
    again = decode(probe, path, source=PathSource.FS_RELATIVE, dev=DATA_DEV)
    assert again is not None
    assert again.path == b"/srv/.ssh/id_rsa"
    assert again.resolved is True


def test_decode_resolved_does_not_consult_mounts(
    probe: FileProbe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe, "_mounts", MountTable(tmp_path / "absent"))
    event = decode(probe, b"/data/.ssh/id_rsa", dev=DATA_DEV)
    assert event is not None
    assert event.path == b"/data/.ssh/id_rsa"


# configure and populate, with a fake object


# the programs of file_monitor.bpf.o and their sections
FILE_PROGRAMS = {
    "enter_open": "tracepoint/syscalls/sys_enter_open",
    "enter_openat": "tracepoint/syscalls/sys_enter_openat",
    "enter_openat2": "tracepoint/syscalls/sys_enter_openat2",
    "enter_open_by_handle_at": "tracepoint/syscalls/sys_enter_open_by_handle_at",
    "exit_openat": "tracepoint/syscalls/sys_exit_openat",
    "open_slow": "tracepoint",
}


def configured(probe: FileProbe) -> records.FileConfig:
    obj = FakeObject(FILE_PROGRAMS)
    probe.configure(bpf(obj))
    initial = obj.map(".rodata").initial
    assert initial is not None
    assert len(initial) == ctypes.sizeof(records.FileConfig)
    return records.FileConfig.from_buffer_copy(initial)


def test_configure_length_masks(probe: FileProbe) -> None:
    cfg = configured(probe)
    assert cfg.self_tgid == SELF_PID
    # "*.key" and "*.kdbx": suffixes of 4 and 5 bytes
    assert cfg.suffix_lens == (1 << 4) | (1 << 5)
    # "secret_*" (7) and the 70-byte name cut to the 60 the kernel compares
    assert cfg.prefix_lens == (1 << 7) | (1 << 60)
    # "/etc/ssl/private/*" is filtered by its parent directory's name
    assert cfg.has_dirname == 1


def test_configure_names_only() -> None:
    cfg = configured(make_probe("version: 1\nfiles:\n  watch_read: [id_rsa, /etc/shadow]\n"))
    assert (cfg.suffix_lens, cfg.prefix_lens, cfg.has_dirname) == (0, 0, 0)


def test_configure_same_length_once() -> None:
    text = 'version: 1\nfiles:\n  watch_read: ["*.key", "*.pem", "*.a", "ab*", "cd*"]\n'
    cfg = configured(make_probe(text))
    assert cfg.suffix_lens == (1 << 4) | (1 << 2)
    assert cfg.prefix_lens == 1 << 2
    assert cfg.has_dirname == 0


def test_configure_empty_policy() -> None:
    cfg = configured(make_probe("version: 1\nfiles:\n  watch_read: []\n"))
    assert (cfg.self_tgid, cfg.suffix_lens, cfg.prefix_lens, cfg.has_dirname) == (
        SELF_PID,
        0,
        0,
        0,
    )


def test_populate_writes_exactly_the_filter_keys(probe: FileProbe) -> None:
    obj = FakeObject(FILE_PROGRAMS)
    probe.populate(bpf(obj))
    written = [
        (records.FilterKey.from_buffer_copy(key), value) for key, value in obj.map("filter").updates
    ]
    assert all(value == b"\x01" for _, value in written)
    got = [(key.kind, key.len, key.value) for key, _ in written]
    assert got == [
        (FilterKind.NAME, 6, b"id_rsa"),
        (FilterKind.NAME, 6, b"shadow"),
        (FilterKind.NAME, 11, b"credentials"),
        (FilterKind.SUFFIX, 4, b".key"),
        (FilterKind.SUFFIX, 5, b".kdbx"),
        (FilterKind.PREFIX, 7, b"secret_"),
        (FilterKind.DIRNAME, 7, b"private"),
        (FilterKind.PREFIX, 60, b"x" * 60),
    ]
    expected = kernel_filter_keys(probe.ctx.policy.files.watch_read)
    assert [(int(k.kind), k.value) for k in expected] == [(kind, value) for kind, _, value in got]


def test_populate_keys_are_the_kernel_layout(probe: FileProbe) -> None:
    obj = FakeObject(FILE_PROGRAMS)
    probe.populate(bpf(obj))
    for key, _ in obj.map("filter").updates:
        assert len(key) == ctypes.sizeof(records.FilterKey)
        parsed = records.FilterKey.from_buffer_copy(key)
        # the value is NUL-padded after len bytes, and the padding is zero
        assert key[4 + parsed.len :] == b"\0" * (records.FILTER_KEY_MAX - parsed.len)
        assert key[2:4] == b"\0\0"


def test_populate_shared_keys_written_once() -> None:
    text = (
        "version: 1\nfiles:\n  watch_read:\n"
        '    - id_rsa\n    - /root/.ssh/id_rsa\n    - "/home/*/.ssh/id_rsa"\n'
    )
    obj = FakeObject(FILE_PROGRAMS)
    make_probe(text).populate(bpf(obj))
    ((key, _),) = obj.map("filter").updates
    parsed = records.FilterKey.from_buffer_copy(key)
    assert (parsed.kind, parsed.value) == (FilterKind.NAME, b"id_rsa")


def test_populate_empty_policy() -> None:
    obj = FakeObject(FILE_PROGRAMS)
    make_probe("version: 1\nfiles:\n  watch_read: []\n").populate(bpf(obj))
    assert obj.map("filter").updates == []


def test_object_path_is_inside_the_package() -> None:
    path = object_path(FileProbe.object_name)
    assert path.name == "file_monitor.bpf.o"
    assert path.parent.name == "kernel"
    assert path.parent.parent.name == "bee_trace"


def test_configure_reads_arguments_at_exit_where_the_kernel_can(probe: FileProbe) -> None:
    obj = FakeObject(FILE_PROGRAMS)
    probe.configure(bpf(obj))
    cfg = records.FileConfig.from_buffer_copy(obj.map(".rodata").initial or b"")
    assert (cfg.args_at_exit, cfg.task_btf) == (1, 1)
    # no program at syscall entry: each would slow every system call
    assert obj.autoload == dict.fromkeys(FileProbe.entry_programs, False)
    # the second stage is reached by tail call, never attached
    assert probe.programs(bpf(obj)) == ["exit_openat"]


@pytest.mark.usefixtures("kernel_without_task_regs")
def test_configure_keeps_entry_programs_on_older_kernels(
    probe: FileProbe, caplog: pytest.LogCaptureFixture
) -> None:
    obj = FakeObject(FILE_PROGRAMS)
    with caplog.at_level("INFO", logger="bee_trace.probes.base"):
        probe.configure(bpf(obj))
    cfg = records.FileConfig.from_buffer_copy(obj.map(".rodata").initial or b"")
    assert cfg.args_at_exit == 0
    assert obj.autoload == dict.fromkeys(FileProbe.entry_programs, True)
    assert probe.programs(bpf(obj)) == [*FileProbe.entry_programs, "exit_openat"]
    assert "bpf_task_pt_regs" in caplog.text


def test_configure_signatures_cover_every_key(probe: FileProbe) -> None:
    cfg = configured(probe)
    words = tuple(cfg.sig_bits)
    sigs = signature_set(kernel_filter_keys(probe.ctx.policy.files.watch_read))
    assert words == sigs.words
    assert tuple(cfg.sig_lens) == sigs.lens
    assert cfg.has_handoff == 0


def test_handoff_names_become_keys_and_signatures(probe: FileProbe) -> None:
    probe.handoff_names = (b"mem",)
    cfg = configured(probe)
    assert cfg.has_handoff == 1
    assert SignatureSet(tuple(cfg.sig_bits), tuple(cfg.sig_lens)).covers(SigTag.NAME, b"mem")
    obj = FakeObject(FILE_PROGRAMS)
    probe.populate(bpf(obj))
    last = records.FilterKey.from_buffer_copy(obj.map("filter").updates[-1][0])
    assert (last.kind, last.len, last.value) == (FilterKind.HANDOFF, 3, b"mem")
