"""Finding or mounting the cgroup v2 root, from scratch mounts files; nothing is mounted."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from bee_trace.host import cgroup, mount
from bee_trace.host.cgroup import (
    CgroupUnavailableError,
    cgroup2_root,
    find_cgroup2,
    v1_socket_controllers,
)

# the start of a systemd host's /proc/self/mounts, without cgroup v2
BASE = (
    "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
    "/dev/sda1 / ext4 rw,relatime 0 0\n"
)
UNIFIED_ONLY = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
HYBRID = (
    "tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
    "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/net_cls,net_prio cgroup rw,nosuid,relatime,net_cls,net_prio 0 0\n"
)


def mounts_file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "mounts"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


# find_cgroup2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + UNIFIED_ONLY, Path("/sys/fs/cgroup")),
        (BASE + HYBRID, Path("/sys/fs/cgroup/unified")),
        (BASE, None),
        ("", None),
    ],
    ids=["unified", "hybrid", "absent", "empty"],
)
def test_find_cgroup2(tmp_path: Path, text: str, expected: Path | None) -> None:
    assert find_cgroup2(mounts_file(tmp_path, text)) == expected


def test_find_cgroup2_takes_the_first_of_several(tmp_path: Path) -> None:
    text = UNIFIED_ONLY + "cgroup2 /run/other cgroup2 rw 0 0\n"
    assert find_cgroup2(mounts_file(tmp_path, text)) == Path("/sys/fs/cgroup")


def test_find_cgroup2_skips_blank_and_short_lines(tmp_path: Path) -> None:
    text = "\n   \ncgroup2\ncgroup2 /x\n" + UNIFIED_ONLY
    assert find_cgroup2(mounts_file(tmp_path, text)) == Path("/sys/fs/cgroup")


def test_find_cgroup2_does_not_take_a_device_named_cgroup2_for_the_type(tmp_path: Path) -> None:
    # "cgroup2" as the device (first field) of a file system of another type
    text = "cgroup2 /mnt/fake tmpfs rw 0 0\n"
    assert find_cgroup2(mounts_file(tmp_path, text)) is None


def test_find_cgroup2_undoes_the_escape_of_a_space(tmp_path: Path) -> None:
    text = "cgroup2 /run/my\\040cgroup cgroup2 rw 0 0\n"
    assert find_cgroup2(mounts_file(tmp_path, text)) == Path("/run/my cgroup")


def test_find_cgroup2_reads_mount_points_that_are_not_utf8(tmp_path: Path) -> None:
    text = b"/dev/sdb1 /media/caf\xe9 vfat rw 0 0\n" + UNIFIED_ONLY.encode()
    assert find_cgroup2(mounts_file(tmp_path, text)) == Path("/sys/fs/cgroup")


def test_find_cgroup2_missing_mounts_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        find_cgroup2(tmp_path / "absent")


# v1_socket_controllers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + UNIFIED_ONLY, []),
        (BASE + HYBRID, ["net_cls", "net_prio"]),
        ("cgroup /sys/fs/cgroup/net_cls cgroup rw,net_cls 0 0\n", ["net_cls"]),
        ("cgroup /sys/fs/cgroup/net_prio cgroup rw,nosuid,net_prio 0 0\n", ["net_prio"]),
        # separate hierarchies for each, and a second mount of one: each named once
        (
            (
                "cgroup /a cgroup rw,net_prio 0 0\n"
                "cgroup /b cgroup rw,net_cls 0 0\n"
                "cgroup /c cgroup rw,net_cls 0 0\n"
            ),
            ["net_cls", "net_prio"],
        ),
        # a v1 hierarchy without them
        ("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu,cpuacct 0 0\n", []),
        # an option that merely contains the name is not the controller
        ("cgroup /x cgroup rw,name=net_cls_like 0 0\n", []),
        # the controllers named by a file system that is not cgroup v1
        ("cgroup2 /x cgroup2 rw,net_cls 0 0\n", []),
        ("tmpfs /net_cls tmpfs rw,net_cls 0 0\n", []),
        # too short to have options
        ("cgroup /x cgroup\n", []),
    ],
    ids=[
        "unified",
        "hybrid",
        "net_cls",
        "net_prio",
        "several",
        "other-controllers",
        "name-option",
        "cgroup2",
        "tmpfs",
        "short",
    ],
)
def test_v1_socket_controllers(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert v1_socket_controllers(mounts_file(tmp_path, text)) == expected


# cgroup2_root


def test_cgroup2_root_found_does_not_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_mount(target: Path) -> None:
        pytest.fail(f"mounted at {target}")

    monkeypatch.setattr(cgroup, "_mount_cgroup2", must_not_mount)
    mounts = mounts_file(tmp_path, BASE + HYBRID)
    assert cgroup2_root(mounts, tmp_path / "private") == Path("/sys/fs/cgroup/unified")


def test_cgroup2_root_absent_mounts_privately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(cgroup, "_mount_cgroup2", calls.append)
    private = tmp_path / "run" / "cgroup2"
    with caplog.at_level(logging.INFO, logger="bee_trace.host.cgroup"):
        assert cgroup2_root(mounts_file(tmp_path, BASE), private) == private
    assert calls == [private]
    assert f"mounted cgroup v2 at {private}" in caplog.text


@pytest.mark.parametrize("err", [errno.EPERM, errno.ENODEV, errno.EBUSY])
def test_cgroup2_root_mount_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    def refuse(target: Path) -> None:
        raise OSError(err, os.strerror(err), str(target))

    monkeypatch.setattr(cgroup, "_mount_cgroup2", refuse)
    private = tmp_path / "private"
    with pytest.raises(CgroupUnavailableError) as info:
        cgroup2_root(mounts_file(tmp_path, BASE), private)
    message = str(info.value)
    assert str(private) in message
    assert errno.errorcode[err] in message
    assert os.strerror(err) in message
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == err


def test_cgroup2_root_mount_failure_without_errno(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(target: Path) -> None:
        raise OSError(str(target))

    monkeypatch.setattr(cgroup, "_mount_cgroup2", refuse)
    with pytest.raises(CgroupUnavailableError, match=r"mounting it at .* failed: None"):
        cgroup2_root(mounts_file(tmp_path, BASE), tmp_path / "private")


def test_cgroup2_root_unknown_errno_is_shown_as_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(target: Path) -> None:
        raise OSError(9999, "odd", str(target))

    monkeypatch.setattr(cgroup, "_mount_cgroup2", refuse)
    with pytest.raises(CgroupUnavailableError, match=r"failed: 9999 \(odd\)"):
        cgroup2_root(mounts_file(tmp_path, BASE), tmp_path / "private")


# _mount_cgroup2, with a stand-in for libc: the tests never mount anything


class FakeFunction:
    """A libc function: argtypes and restype settable, calls recorded."""

    def __init__(self, rc: int) -> None:
        self.rc = rc
        self.calls: list[tuple[object, ...]] = []
        self.argtypes: list[object] | None = None
        self.restype: object = None

    def __call__(self, *args: object) -> int:
        self.calls.append(args)
        return self.rc


class FakeLibc:
    def __init__(self, rc: int) -> None:
        self.mount = FakeFunction(rc)


def fake_ctypes(monkeypatch: pytest.MonkeyPatch, libc: FakeLibc, err: int = 0) -> None:
    import ctypes  # noqa: PLC0415 - the real types, under the fake CDLL

    def cdll(name: object, *, use_errno: bool = False) -> FakeLibc:
        assert name is None
        assert use_errno
        return libc

    fake = SimpleNamespace(
        CDLL=cdll,
        c_char_p=ctypes.c_char_p,
        c_void_p=ctypes.c_void_p,
        c_int=ctypes.c_int,
        get_errno=lambda: err,
    )
    monkeypatch.setattr(mount, "ctypes", fake)


def test_mount_cgroup2_makes_the_directory_and_calls_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libc = FakeLibc(rc=0)
    fake_ctypes(monkeypatch, libc)
    target = tmp_path / "run" / "bee-trace" / "cgroup2"
    cgroup._mount_cgroup2(target)  # noqa: SLF001 - the one place that calls mount(2)
    assert target.is_dir()
    assert libc.mount.calls == [(b"cgroup2", os.fsencode(target), b"cgroup2", None, None)]
    assert libc.mount.argtypes is not None
    assert len(libc.mount.argtypes) == 5


def test_mount_cgroup2_failure_raises_oserror_with_errno(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ctypes(monkeypatch, FakeLibc(rc=-1), err=errno.EPERM)
    target = tmp_path / "cgroup2"
    with pytest.raises(OSError, match="Operation not permitted") as info:
        cgroup._mount_cgroup2(target)  # noqa: SLF001 - the one place that calls mount(2)
    assert info.value.errno == errno.EPERM
    assert info.value.filename == str(target)


def test_cgroup2_root_through_a_refused_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ctypes(monkeypatch, FakeLibc(rc=-1), err=errno.EPERM)
    private = tmp_path / "cgroup2"
    with pytest.raises(CgroupUnavailableError) as info:
        cgroup2_root(mounts_file(tmp_path, BASE), private)
    assert str(info.value) == (
        f"cgroup v2 is not mounted and mounting it at {private} failed: "
        "EPERM (Operation not permitted)"
    )
