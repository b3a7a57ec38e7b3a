"""Reading mountinfo and placing file-system-relative paths in our mount tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bee_trace.events.mounts import Mount, MountTable, kernel_dev, parse_mountinfo

if TYPE_CHECKING:
    from pathlib import Path

ROOT_DEV = kernel_dev(8, 1)
DATA_DEV = kernel_dev(8, 17)

# a host root on 8:1, a bind mount of its /tmp/x at /mnt/y, and only /data of 8:17 at /srv
MOUNTINFO = (
    b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    b"23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
    b"40 22 8:1 /tmp/x /mnt/y rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    b"41 22 8:17 /data /srv rw,relatime shared:30 - xfs /dev/sdb1 rw\n"
)


def write(tmp_path: Path, text: bytes, name: str = "mountinfo") -> Path:
    path = tmp_path / name
    path.write_bytes(text)
    return path


# kernel_dev


@pytest.mark.parametrize(
    ("major", "minor", "expected"),
    [
        (0, 0, 0),
        (8, 1, 0x800001),
        (0, 21, 21),
        (259, 3, (259 << 20) | 3),
        # minors wider than 8 bits stay in the low 20 bits (unlike the user-space dev_t)
        (8, 300, (8 << 20) | 300),
    ],
)
def test_kernel_dev(major: int, minor: int, expected: int) -> None:
    assert kernel_dev(major, minor) == expected


# parse_mountinfo


def test_parse_mountinfo_reads_device_root_and_mount_point() -> None:
    assert parse_mountinfo(MOUNTINFO) == [
        Mount(dev=ROOT_DEV, root=b"/", mount_point=b"/"),
        Mount(dev=kernel_dev(0, 21), root=b"/", mount_point=b"/proc"),
        Mount(dev=ROOT_DEV, root=b"/tmp/x", mount_point=b"/mnt/y"),
        Mount(dev=DATA_DEV, root=b"/data", mount_point=b"/srv"),
    ]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (rb"/my\040dir", b"/my dir"),
        (rb"/tab\011here", b"/tab\there"),
        (rb"/new\012line", b"/new\nline"),
        (rb"/back\134slash", b"/back\\slash"),
        (rb"/a\040b\040c", b"/a b c"),
        # not three octal digits: left as written
        (rb"/not\08", rb"/not\08"),
        (rb"/short\04", rb"/short\04"),
        # bytes that are not UTF-8 stay bytes
        (b"/caf\xe9", b"/caf\xe9"),
    ],
)
def test_parse_mountinfo_undoes_escapes(field: bytes, expected: bytes) -> None:
    line = b"40 22 8:1 " + field + b" " + field + b" rw - ext4 /dev/sda1 rw\n"
    (mount,) = parse_mountinfo(line)
    assert mount.root == expected
    assert mount.mount_point == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"garbage",
        b"40 22 8:1 /",
        b"40 22 eight:1 / / rw - ext4 /dev/sda1 rw",
        b"40 22 8:one / / rw - ext4 /dev/sda1 rw",
        b"40 22 81 / / rw - ext4 /dev/sda1 rw",
        b"40 22 -8:1 / / rw - ext4 /dev/sda1 rw",
        b"40 22 : / / rw - ext4 /dev/sda1 rw",
    ],
    ids=["empty", "one-field", "four-fields", "major", "minor", "no-colon", "sign", "colon"],
)
def test_parse_mountinfo_skips_odd_lines(line: bytes) -> None:
    good = b"22 1 8:1 / / rw - ext4 /dev/sda1 rw"
    assert parse_mountinfo(line + b"\n" + good + b"\n") == [
        Mount(dev=ROOT_DEV, root=b"/", mount_point=b"/")
    ]


def test_parse_mountinfo_of_nothing() -> None:
    assert parse_mountinfo(b"") == []


# MountTable.locate


@pytest.fixture
def table(tmp_path: Path) -> MountTable:
    return MountTable(write(tmp_path, MOUNTINFO))


@pytest.mark.parametrize(
    ("dev", "fs_path", "expected"),
    [
        # a bind mount of /tmp/x exists, but the whole file system is mounted at /:
        # the widest mount gives the path people know
        (ROOT_DEV, b"/tmp/x/f", b"/tmp/x/f"),
        (ROOT_DEV, b"/tmp/x", b"/tmp/x"),
        (ROOT_DEV, b"/etc/shadow", b"/etc/shadow"),
        (ROOT_DEV, b"/", b"/"),
        # only /data of this device is mounted, at /srv
        (DATA_DEV, b"/data/a", b"/srv/a"),
        (DATA_DEV, b"/data/a/b/c", b"/srv/a/b/c"),
        (DATA_DEV, b"/data", b"/srv"),
        # outside the mounted part, or a name that merely starts like it
        (DATA_DEV, b"/other/a", None),
        (DATA_DEV, b"/database/a", None),
        (DATA_DEV, b"/", None),
        # a device not mounted at all
        (kernel_dev(9, 9), b"/a", None),
    ],
)
def test_locate(table: MountTable, dev: int, fs_path: bytes, expected: bytes | None) -> None:
    assert table.locate(dev, fs_path) == expected


def test_locate_widest_mount_wins_whatever_the_order(tmp_path: Path) -> None:
    text = (
        b"40 22 8:1 /tmp/x /mnt/y rw - ext4 /dev/sda1 rw\n"
        b"41 22 8:1 /tmp /mnt/t rw - ext4 /dev/sda1 rw\n"
        b"42 22 8:1 /tmp/x/deeper /mnt/d rw - ext4 /dev/sda1 rw\n"
    )
    table = MountTable(write(tmp_path, text))
    assert table.locate(ROOT_DEV, b"/tmp/x/deeper/f") == b"/mnt/t/x/deeper/f"
    assert table.locate(ROOT_DEV, b"/tmp/x/f") == b"/mnt/t/x/f"
    assert table.locate(ROOT_DEV, b"/tmp/f") == b"/mnt/t/f"


def test_locate_only_a_subdir_bind_mounted(tmp_path: Path) -> None:
    # a container's view: the host's /var/lib/c1/rootfs/etc is its /etc
    text = b"40 22 8:1 /var/lib/c1/rootfs/etc /etc rw - ext4 /dev/sda1 rw\n"
    table = MountTable(write(tmp_path, text))
    assert table.locate(ROOT_DEV, b"/var/lib/c1/rootfs/etc/shadow") == b"/etc/shadow"
    assert table.locate(ROOT_DEV, b"/var/lib/c1/rootfs/root/.ssh/id_rsa") is None


def test_locate_subdir_mounted_at_the_root(tmp_path: Path) -> None:
    text = b"40 1 8:1 /rootfs / rw - ext4 /dev/sda1 rw\n"
    table = MountTable(write(tmp_path, text))
    assert table.locate(ROOT_DEV, b"/rootfs/etc/shadow") == b"/etc/shadow"
    assert table.locate(ROOT_DEV, b"/rootfs") == b"/"


def test_locate_mount_point_with_a_space(tmp_path: Path) -> None:
    text = rb"40 22 8:17 /data /my\040data rw - xfs /dev/sdb1 rw" + b"\n"
    table = MountTable(write(tmp_path, text))
    assert table.locate(DATA_DEV, b"/data/a") == b"/my data/a"


def test_locate_reads_lazily(tmp_path: Path) -> None:
    source = tmp_path / "mountinfo"
    table = MountTable(source)
    # nothing is read at construction: the file may appear later
    source.write_bytes(MOUNTINFO)
    assert table.locate(DATA_DEV, b"/data/a") == b"/srv/a"


def test_locate_reloads_on_a_miss(tmp_path: Path) -> None:
    source = write(tmp_path, b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
    table = MountTable(source)
    assert table.locate(DATA_DEV, b"/data/a") is None
    # mounted since: the miss reads mountinfo again
    source.write_bytes(MOUNTINFO)
    assert table.locate(DATA_DEV, b"/data/a") == b"/srv/a"


def test_locate_does_not_reload_on_a_hit(tmp_path: Path) -> None:
    source = write(tmp_path, MOUNTINFO)
    table = MountTable(source)
    assert table.locate(DATA_DEV, b"/data/a") == b"/srv/a"
    # moved since, but the cached table still answers
    source.write_bytes(b"41 22 8:17 /data /elsewhere rw - xfs /dev/sdb1 rw\n")
    assert table.locate(DATA_DEV, b"/data/a") == b"/srv/a"
    # a miss then picks the new table up
    assert table.locate(kernel_dev(9, 9), b"/a") is None
    assert table.locate(DATA_DEV, b"/data/a") == b"/elsewhere/a"


def test_locate_unmounted_since_answers_from_the_cache_until_a_miss(tmp_path: Path) -> None:
    source = write(tmp_path, MOUNTINFO)
    table = MountTable(source)
    assert table.locate(DATA_DEV, b"/data/a") == b"/srv/a"
    source.write_bytes(b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
    # only a miss reads mountinfo again, so a mount gone since still answers
    assert table.locate(DATA_DEV, b"/data/b") == b"/srv/b"
    assert table.locate(DATA_DEV, b"/other") is None
    assert table.locate(DATA_DEV, b"/data/b") is None


def test_locate_unreadable_mountinfo_is_an_empty_table(tmp_path: Path) -> None:
    table = MountTable(tmp_path / "absent")
    assert table.locate(ROOT_DEV, b"/etc/shadow") is None
    # and it recovers once it can be read
    write(tmp_path, MOUNTINFO, name="absent")
    assert table.locate(ROOT_DEV, b"/etc/shadow") == b"/etc/shadow"
