"""Start-up checks: everything bee-trace needs from the host, named one by one.

Features are probed, not inferred from version numbers, except the kernel
version floor itself, which stands for the newest helper every build of the
programs uses (bpf_probe_read_kernel, Linux 5.5).
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bee_trace.errors import HostRequirementError
from bee_trace.host.mount import mount_fs

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger(__name__)

# bpf_probe_read_kernel/user (5.5) is the newest helper every build uses;
# ring buffers (5.8) are probed for, and older kernels get perf buffers
MIN_KERNEL: Final = (5, 5)
BTF_PATH: Final = Path("/sys/kernel/btf/vmlinux")
TRACEFS_DIR: Final = Path("/sys/kernel/tracing")
DEBUGFS_TRACING_DIR: Final = Path("/sys/kernel/debug/tracing")

_MOUNT_FSTYPE: Final = 2  # field of a /proc/self/mounts line

CAP_DAC_READ_SEARCH: Final = 2
CAP_NET_ADMIN: Final = 12
CAP_SYS_ADMIN: Final = 21
CAP_PERFMON: Final = 38
CAP_BPF: Final = 39


@dataclass(frozen=True, slots=True)
class Capability:
    """One capability bee-trace needs, when, and why (docs/ebpf-validation.md lists them)."""

    name: str
    bit: int
    needed_for: str
    why: str
    # CAP_SYS_ADMIN stands in for it (the kernel accepts either)
    sys_admin_suffices: bool = True


# the one list of capabilities a non-root bee-trace needs, measured by the
# eBPF validation suite (tools/ebpf_validate); root has them all
REQUIRED_CAPABILITIES: Final = (
    Capability("CAP_BPF", CAP_BPF, "every probe", "load BPF programs and create maps"),
    Capability(
        "CAP_PERFMON", CAP_PERFMON, "every probe", "load tracing programs and attach tracepoints"
    ),
    Capability(
        "CAP_DAC_READ_SEARCH",
        CAP_DAC_READ_SEARCH,
        "every probe",
        "read tracefs event ids (tracefs belongs to root, mode 0700)",
        sys_admin_suffices=False,
    ),
    Capability(
        "CAP_NET_ADMIN",
        CAP_NET_ADMIN,
        "network enforcement",
        "load and attach the cgroup programs that deny blocked destinations",
    ),
)
_BY_NAME: Final = {cap.name: cap for cap in REQUIRED_CAPABILITIES}


@dataclass(frozen=True, slots=True)
class HostPaths:
    """Where the checks look; tests point these at scratch files."""

    proc_self_status: Path = Path("/proc/self/status")
    proc_mounts: Path = Path("/proc/self/mounts")
    btf: Path = BTF_PATH
    tracefs: Path = TRACEFS_DIR
    debugfs_tracing: Path = DEBUGFS_TRACING_DIR


def parse_kernel_release(release: str) -> tuple[int, int]:
    """``6.18.44-fc-v1147`` -> ``(6, 18)``."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        msg = f"cannot parse kernel release {release!r}"
        raise ValueError(msg)
    return int(m.group(1)), int(m.group(2))


def effective_caps(status: Path) -> int:
    """The CapEff bit mask of this process."""
    for line in status.read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    msg = f"{status} has no CapEff line"
    raise ValueError(msg)


def missing_privileges(caps: int, *, network_enforce: bool = False) -> list[str]:
    """Name each capability missing for loading and attaching the programs.

    CAP_DAC_READ_SEARCH is not judged from the mask: a process whose uid owns
    tracefs needs none, so :func:`tracepoint_problems` tries the read instead.
    """
    wanted = ["CAP_BPF", "CAP_PERFMON"]
    if network_enforce:
        wanted.append("CAP_NET_ADMIN")
    if caps & (1 << CAP_SYS_ADMIN):
        return []
    out: list[str] = []
    for cap in (_BY_NAME[name] for name in wanted):
        if not caps & (1 << cap.bit):
            needed = "" if cap.needed_for == "every probe" else f" for {cap.needed_for}"
            alternative = " (or CAP_SYS_ADMIN)" if cap.sys_admin_suffices else ""
            out.append(f"capability {cap.name}{alternative}{needed}: needed to {cap.why}")
    return out


def tracefs_mounted(mounts: Path, where: Iterable[Path]) -> Path | None:
    """A tracefs mount at one of the places libbpf looks, if any."""
    wanted = {str(p) for p in where}
    for line in mounts.read_text().splitlines():
        fields = line.split()
        if (
            len(fields) > _MOUNT_FSTYPE
            and fields[_MOUNT_FSTYPE] == "tracefs"
            and fields[1] in wanted
        ):
            return Path(fields[1])
    return None


def mount_tracefs(target: Path) -> None:
    """Mount tracefs at target (needs CAP_SYS_ADMIN)."""
    mount_fs(b"tracefs", target)


def ensure_tracefs(paths: HostPaths) -> str | None:
    """Make tracefs available where libbpf looks; return a problem or None."""
    found = tracefs_mounted(paths.proc_mounts, (paths.tracefs, paths.debugfs_tracing))
    if found is not None:
        return None
    try:
        mount_tracefs(paths.tracefs)
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        return (
            f"tracefs: not mounted at {paths.tracefs} and mounting it failed: "
            f"{name} ({exc.strerror}); mount it with 'mount -t tracefs tracefs {paths.tracefs}'"
        )
    log.info("mounted tracefs at %s", paths.tracefs)
    return None


# one tracepoint every probe needs, to probe for syscall tracepoints as a whole
PROBE_TRACEPOINT: Final = "events/syscalls/sys_enter_openat/id"


def tracepoint_problems(paths: HostPaths) -> list[str]:
    """Check that libbpf can find syscall tracepoints and read their ids."""
    for base in (paths.tracefs, paths.debugfs_tracing):
        probe = base / PROBE_TRACEPOINT
        try:
            with probe.open("rb"):
                return []
        except PermissionError:
            return [
                (
                    f"read access to {probe}: tracefs event ids are readable by root only "
                    "(run as root, or add capability CAP_DAC_READ_SEARCH)"
                )
            ]
        except OSError:
            continue
    return [
        (
            f"syscall tracepoints: {paths.tracefs / PROBE_TRACEPOINT} does not exist "
            "(a kernel built with CONFIG_FTRACE_SYSCALLS=y)"
        )
    ]


def check_host(
    paths: HostPaths | None = None,
    release: str | None = None,
    *,
    network_enforce: bool = False,
) -> None:
    """Raise HostRequirementError naming every missing requirement.

    ``network_enforce``: network_monitor will load its cgroup deny programs.
    """
    paths = paths or HostPaths()
    missing: list[str] = []

    release = release or platform.release()
    try:
        version = parse_kernel_release(release)
    except ValueError as exc:
        missing.append(str(exc))
    else:
        if version < MIN_KERNEL:
            floor = ".".join(map(str, MIN_KERNEL))
            missing.append(f"Linux {floor} or newer (bpf_probe_read_kernel); this is {release}")

    if not os.access(paths.btf, os.R_OK):
        missing.append(f"kernel BTF at {paths.btf} (a kernel built with CONFIG_DEBUG_INFO_BTF=y)")

    try:
        caps = effective_caps(paths.proc_self_status)
    except (OSError, ValueError) as exc:
        missing.append(f"cannot read capabilities: {exc}")
        caps = 0
    privileges = missing_privileges(caps, network_enforce=network_enforce)
    missing.extend(privileges)

    if not privileges:
        problem = ensure_tracefs(paths)
        if problem:
            missing.append(problem)
        else:
            missing.extend(tracepoint_problems(paths))

    if missing:
        raise HostRequirementError(missing)
