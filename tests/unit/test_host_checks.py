"""Start-up checks against scratch files: every missing requirement on its own line."""

from __future__ import annotations

import errno
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bee_trace.errors import ExitCode, HostRequirementError
from bee_trace.host import checks
from bee_trace.host.checks import (
    CAP_BPF,
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    DEBUGFS_TRACING_DIR,
    HostPaths,
    check_host,
    effective_caps,
    missing_privileges,
    mount_tracefs,
    parse_kernel_release,
    tracefs_mounted,
)

if TYPE_CHECKING:
    from collections.abc import Callable

GOOD_RELEASE = "6.18.44-fc-v1147"
ROOT_CAPS = (1 << 41) - 1
MOUNTS_WITHOUT_TRACEFS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/vda / ext4 rw,relatime 0 0
"""


def caps_of(*bits: int) -> int:
    mask = 0
    for bit in bits:
        mask |= 1 << bit
    return mask


def status_text(cap_eff: int) -> str:
    return (
        "Name:\tpython3\n"
        "State:\tR (running)\n"
        "CapInh:\t0000000000000000\n"
        "CapPrm:\t000001ffffffffff\n"
        f"CapEff:\t{cap_eff:016x}\n"
        "CapBnd:\t000001ffffffffff\n"
    )


@dataclass
class Host:
    """A scratch host: files the checks read, and mount attempts recorded."""

    root: Path
    mount_error: OSError | None = None
    mounted_at: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> HostPaths:
        return HostPaths(
            proc_self_status=self.root / "status",
            proc_mounts=self.root / "mounts",
            btf=self.root / "vmlinux",
            tracefs=self.root / "tracing",
            debugfs_tracing=self.root / "debug" / "tracing",
        )

    def set_caps(self, cap_eff: int) -> None:
        self.paths.proc_self_status.write_text(status_text(cap_eff))

    def set_mounts(self, text: str) -> None:
        self.paths.proc_mounts.write_text(text)

    def mount(self, target: Path) -> None:
        self.mounted_at.append(target)
        if self.mount_error is not None:
            raise self.mount_error


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    """A host that meets every requirement, with tracefs already mounted.

    The real mount_tracefs is replaced in every test: a test must never mount
    anything on the machine running it.
    """
    scratch = Host(tmp_path)
    scratch.set_caps(ROOT_CAPS)
    scratch.paths.btf.write_bytes(b"\x9f\xeb\x01\x00")
    tracepoint_id = scratch.paths.tracefs / checks.PROBE_TRACEPOINT
    tracepoint_id.parent.mkdir(parents=True)
    tracepoint_id.write_text("624\n")
    scratch.set_mounts(
        MOUNTS_WITHOUT_TRACEFS + f"tracefs {scratch.paths.tracefs} tracefs rw,relatime 0 0\n"
    )
    monkeypatch.setattr(checks, "mount_tracefs", scratch.mount)
    return scratch


def passes(host: Host, release: str = GOOD_RELEASE) -> None:
    """check_host finds nothing missing (it raises otherwise)."""
    check_host(host.paths, release=release)


def missing(host: Host, release: str = GOOD_RELEASE) -> list[str]:
    """The error lines check_host gives; it must find something missing."""
    with pytest.raises(HostRequirementError) as caught:
        check_host(host.paths, release=release)
    error = caught.value
    assert error.exit_code == ExitCode.HOST_REQUIREMENT
    assert len(error.lines()) == len(error.missing)
    assert all(line.startswith("missing requirement: ") for line in error.lines())
    return error.lines()


# everything present


def test_a_host_meeting_every_requirement_passes(host: Host) -> None:
    passes(host)
    assert host.mounted_at == []


def test_every_missing_requirement_gets_its_own_line(host: Host) -> None:
    host.paths.btf.unlink()
    host.set_caps(0)

    lines = missing(host, release="5.4.0-150-generic")

    assert len(lines) == 4, lines
    assert "Linux 5.5 or newer" in lines[0]
    assert "5.4.0-150-generic" in lines[0]
    assert str(host.paths.btf) in lines[1]
    assert "CAP_BPF" in lines[2]
    assert "CAP_PERFMON" in lines[3]


def test_lines_are_the_error_message_split_per_requirement() -> None:
    error = HostRequirementError(["one thing", "another"])

    assert error.lines() == ["missing requirement: one thing", "missing requirement: another"]
    assert str(error) == "one thing; another"


# kernel version


@pytest.mark.parametrize(
    "release", ["5.5.0", "5.8.0", "5.10.0-28-amd64", "6.1.0", "10.0.1", "6.18"]
)
def test_kernel_at_or_above_the_floor_passes(host: Host, release: str) -> None:
    passes(host, release=release)


@pytest.mark.parametrize(
    "release", ["5.4.0-150-generic", "4.19.0-26-amd64", "3.10.0-1160.el7.x86_64"]
)
def test_kernel_too_old_is_named_with_its_release(host: Host, release: str) -> None:
    lines = missing(host, release=release)

    assert lines == [
        f"missing requirement: Linux 5.5 or newer (bpf_probe_read_kernel); this is {release}"
    ]


@pytest.mark.parametrize("release", ["garbage", "v6.1", "6", "six.one"])
def test_unparsable_release_is_reported_not_raised(host: Host, release: str) -> None:
    lines = missing(host, release=release)

    assert lines == [f"missing requirement: cannot parse kernel release {release!r}"]


def test_release_comes_from_the_running_kernel_by_default(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platform, "release", lambda: "5.4.0")

    lines = missing(host, release="")

    assert len(lines) == 1
    assert "this is 5.4.0" in lines[0]


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("6.18.44-fc-v1147", (6, 18)),
        ("5.8.0", (5, 8)),
        ("5.15.0-1051-azure", (5, 15)),
        ("6.1", (6, 1)),
    ],
)
def test_parse_kernel_release(release: str, expected: tuple[int, int]) -> None:
    assert parse_kernel_release(release) == expected


def test_versions_compare_as_numbers_not_text(host: Host) -> None:
    # "5.10" < "5.8" as text; as numbers it is newer
    assert parse_kernel_release("5.10.0") > checks.MIN_KERNEL
    passes(host, release="5.10.0")


# BTF


def test_missing_btf_names_the_path_and_the_kernel_option(host: Host) -> None:
    host.paths.btf.unlink()

    lines = missing(host)

    assert len(lines) == 1
    assert str(host.paths.btf) in lines[0]
    assert "CONFIG_DEBUG_INFO_BTF=y" in lines[0]


# capabilities


def test_no_capabilities_names_both(host: Host) -> None:
    host.set_caps(0)

    lines = missing(host)

    assert len(lines) == 2, lines
    assert lines[0].startswith("missing requirement: capability CAP_BPF (or CAP_SYS_ADMIN)")
    assert lines[1].startswith("missing requirement: capability CAP_PERFMON (or CAP_SYS_ADMIN)")


def test_only_cap_bpf_is_missing_cap_perfmon(host: Host) -> None:
    host.set_caps(caps_of(CAP_BPF))

    lines = missing(host)

    assert len(lines) == 1
    assert "CAP_PERFMON" in lines[0]
    assert "attach" in lines[0]


def test_only_cap_perfmon_is_missing_cap_bpf(host: Host) -> None:
    host.set_caps(caps_of(CAP_PERFMON))

    lines = missing(host)

    assert len(lines) == 1
    assert "capability CAP_BPF" in lines[0]
    assert "load BPF programs" in lines[0]


def test_cap_sys_admin_alone_is_enough(host: Host) -> None:
    host.set_caps(caps_of(CAP_SYS_ADMIN))

    passes(host)


def test_cap_bpf_and_cap_perfmon_are_enough(host: Host) -> None:
    host.set_caps(caps_of(CAP_BPF, CAP_PERFMON))

    passes(host)


def test_other_capabilities_do_not_count(host: Host) -> None:
    everything_else = ROOT_CAPS & ~caps_of(CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)
    host.set_caps(everything_else)

    assert len(missing(host)) == 2


@pytest.mark.parametrize(
    ("caps", "count"),
    [
        (0, 2),
        (caps_of(CAP_BPF), 1),
        (caps_of(CAP_PERFMON), 1),
        (caps_of(CAP_SYS_ADMIN), 0),
        (caps_of(CAP_BPF, CAP_PERFMON), 0),
    ],
)
def test_missing_privileges(caps: int, count: int) -> None:
    assert len(missing_privileges(caps)) == count


def test_effective_caps_reads_the_cap_eff_mask(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(status_text(0x000001FFFFFFFFFF))

    assert effective_caps(status) == 0x000001FFFFFFFFFF


def test_status_without_cap_eff_is_reported_and_counts_as_no_capabilities(host: Host) -> None:
    host.paths.proc_self_status.write_text("Name:\tpython3\nCapPrm:\t000001ffffffffff\n")

    lines = missing(host)

    assert len(lines) == 3, lines
    status = host.paths.proc_self_status
    assert lines[0] == f"missing requirement: cannot read capabilities: {status} has no CapEff line"
    assert "CAP_BPF" in lines[1]
    assert "CAP_PERFMON" in lines[2]


def test_unreadable_status_is_reported(host: Host) -> None:
    host.paths.proc_self_status.unlink()

    lines = missing(host)

    assert lines[0].startswith("missing requirement: cannot read capabilities: ")
    assert str(host.paths.proc_self_status) in lines[0]


# tracefs


def test_tracefs_mounted_at_the_usual_place_is_not_mounted_again(host: Host) -> None:
    passes(host)
    assert host.mounted_at == []


def test_tracefs_under_debugfs_is_enough(host: Host) -> None:
    host.set_mounts(
        MOUNTS_WITHOUT_TRACEFS
        + "debugfs /sys/kernel/debug debugfs rw,relatime 0 0\n"
        + f"tracefs {host.paths.debugfs_tracing} tracefs rw,relatime 0 0\n"
    )

    passes(host)
    assert host.mounted_at == []


def test_tracefs_somewhere_else_does_not_count(host: Host) -> None:
    host.set_mounts(MOUNTS_WITHOUT_TRACEFS + "tracefs /mnt/trace tracefs rw,relatime 0 0\n")

    passes(host)
    assert host.mounted_at == [host.paths.tracefs]


def test_another_filesystem_at_the_tracefs_place_does_not_count(host: Host) -> None:
    host.set_mounts(MOUNTS_WITHOUT_TRACEFS + f"none {host.paths.tracefs} tmpfs rw 0 0\n")

    passes(host)
    assert host.mounted_at == [host.paths.tracefs]


def test_absent_tracefs_is_mounted(host: Host, caplog: pytest.LogCaptureFixture) -> None:
    host.set_mounts(MOUNTS_WITHOUT_TRACEFS)

    with caplog.at_level(logging.INFO, logger="bee_trace.host.checks"):
        passes(host)

    assert host.mounted_at == [host.paths.tracefs]
    assert f"mounted tracefs at {host.paths.tracefs}" in caplog.messages


def test_tracefs_that_cannot_be_mounted_names_errno_and_the_command(host: Host) -> None:
    host.set_mounts(MOUNTS_WITHOUT_TRACEFS)
    host.mount_error = OSError(errno.EPERM, os.strerror(errno.EPERM), str(host.paths.tracefs))

    lines = missing(host)

    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("missing requirement: tracefs: ")
    assert "EPERM" in line
    assert os.strerror(errno.EPERM) in line
    assert f"'mount -t tracefs tracefs {host.paths.tracefs}'" in line
    assert host.mounted_at == [host.paths.tracefs]


def test_tracefs_is_not_tried_without_the_privileges_to_attach(host: Host) -> None:
    host.set_mounts(MOUNTS_WITHOUT_TRACEFS)
    host.set_caps(caps_of(CAP_BPF))

    lines = missing(host)

    assert len(lines) == 1
    assert "CAP_PERFMON" in lines[0]
    assert host.mounted_at == []


def test_tracefs_mount_failure_skips_the_tracepoint_check(host: Host) -> None:
    host.set_mounts(MOUNTS_WITHOUT_TRACEFS)
    host.mount_error = OSError(errno.EPERM, os.strerror(errno.EPERM), str(host.paths.tracefs))
    (host.paths.tracefs / checks.PROBE_TRACEPOINT).unlink()

    lines = missing(host)

    assert len(lines) == 1
    assert "tracefs: " in lines[0]


# syscall tracepoints


def test_missing_syscall_tracepoints_name_the_kernel_option(host: Host) -> None:
    tracepoint_id = host.paths.tracefs / checks.PROBE_TRACEPOINT
    tracepoint_id.unlink()

    lines = missing(host)

    expected = (
        f"missing requirement: syscall tracepoints: {tracepoint_id} does not exist "
        "(a kernel built with CONFIG_FTRACE_SYSCALLS=y)"
    )
    assert lines == [expected]


def test_syscall_tracepoints_under_debugfs_are_enough(host: Host) -> None:
    (host.paths.tracefs / checks.PROBE_TRACEPOINT).unlink()
    fallback = host.paths.debugfs_tracing / checks.PROBE_TRACEPOINT
    fallback.parent.mkdir(parents=True)
    fallback.write_text("624\n")

    passes(host)


def test_unreadable_tracepoint_ids_say_who_may_read_them(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracepoint_id = host.paths.tracefs / checks.PROBE_TRACEPOINT
    real_open: Callable[..., object] = Path.open

    def open_as_non_root(self: Path, *args: object, **kwargs: object) -> object:
        # root reads any file, so the refusal is simulated for this one path
        if self == tracepoint_id:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_as_non_root)

    lines = missing(host)

    assert len(lines) == 1
    assert lines[0].startswith(f"missing requirement: read access to {tracepoint_id}: ")
    assert "CAP_DAC_READ_SEARCH" in lines[0]


def test_tracefs_mounted_finds_the_mount_point(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS_WITHOUT_TRACEFS + "tracefs /sys/kernel/tracing tracefs rw 0 0\n")

    where = (Path("/sys/kernel/tracing"), DEBUGFS_TRACING_DIR)
    assert tracefs_mounted(mounts, where) == Path("/sys/kernel/tracing")
    assert tracefs_mounted(mounts, [DEBUGFS_TRACING_DIR]) is None


def test_mount_tracefs_raises_oserror_with_errno(tmp_path: Path) -> None:
    # a mount point that does not exist: the call fails before anything is mounted
    target = tmp_path / "absent" / "tracing"

    with pytest.raises(OSError, match="absent") as caught:
        mount_tracefs(target)

    assert caught.value.errno in {errno.ENOENT, errno.EPERM}
    assert caught.value.filename == str(target)
