"""Resource limits: what a running bee-trace takes, held to the policy's ``limits``.

bee-trace runs every probe as root with the given policy. Locked kernel
memory is the sum of ``memlock`` over the BPF maps in its fdinfo; peak
resident memory is ``VmHWM``; CPU is its user and system time over a bounded
flood of opens of a watched file, in percent of one CPU.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bee_trace.policy.loader import OTHER_MAPS_MAX_BYTES
from tools.ebpf_validate.verifier import fdinfo
from tools.ebpf_validate.workload import Run, bee_trace_argv, cpu_seconds, flood, proc_status

if TYPE_CHECKING:
    from bee_trace.policy import Policy

BPF_MAP_TYPE_RINGBUF: Final = 27
FLOOD_RATE_PER_S: Final = 5000.0
FLOOD_SECONDS: Final = 5.0
_SUMMARY: Final = re.compile(r"total: (\d+) events, (\d+) dropped")


@dataclass(frozen=True, slots=True)
class Usage:
    """What one bee-trace run took."""

    kernel_memory_bytes: int
    ring_buffer_bytes: int
    other_maps_bytes: int
    maps: int
    user_memory_bytes: int
    cpu_percent: float
    flood_opens: int
    flood_rate_per_s: float
    flood_seconds: float
    events: int
    dropped: int


def locked_kernel_memory(pid: int) -> tuple[int, int, int]:
    """(all maps, ring buffers, how many maps): memlock of the BPF maps pid holds open."""
    total = rings = count = 0
    for fd_path in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            info = fdinfo(int(fd_path.name), pid)
        except (OSError, ValueError):
            continue  # closed meanwhile
        if "map_type" not in info:
            continue
        memlock = int(info.get("memlock", "0"))
        total += memlock
        count += 1
        if int(info["map_type"]) == BPF_MAP_TYPE_RINGBUF:
            rings += memlock
    return total, rings, count


def measure(
    policy_path: Path | None,
    rate_per_s: float = FLOOD_RATE_PER_S,
    seconds: float = FLOOD_SECONDS,
) -> Usage:
    """Run bee-trace with every probe, flood it, and measure."""
    scratch = Path(tempfile.mkdtemp(prefix="bee-trace-limits-"))
    output = scratch / "events.jsonl"
    args = ["--probe-type", "all", "--duration", str(seconds + 60)]
    if policy_path is not None:
        args += ["--config", str(policy_path)]
    run = Run(bee_trace_argv(*args, output=output), output)
    if not run.start():
        msg = "bee-trace did not start: " + " | ".join(run.stderr[-5:])
        raise RuntimeError(msg)
    try:
        total, rings, count = locked_kernel_memory(run.pid)
        watched = scratch / ".env"
        watched.write_text("X=1\n")
        cpu0, wall0 = cpu_seconds(run.pid), time.monotonic()
        child = flood(watched, rate_per_s, seconds)
        out, _ = child.communicate(timeout=seconds + 60)
        time.sleep(0.5)  # let the consumer finish the backlog
        cpu1, wall1 = cpu_seconds(run.pid), time.monotonic()
        hwm_kib = int(proc_status(run.pid)["VmHWM"].split()[0])
    finally:
        run.stop()
    events = dropped = 0
    for line in run.stderr:
        if m := _SUMMARY.search(line):
            events, dropped = int(m.group(1)), int(m.group(2))
    return Usage(
        kernel_memory_bytes=total,
        ring_buffer_bytes=rings,
        other_maps_bytes=total - rings,
        maps=count,
        user_memory_bytes=hwm_kib * 1024,
        cpu_percent=100.0 * (cpu1 - cpu0) / (wall1 - wall0),
        flood_opens=int(out.strip() or 0),
        flood_rate_per_s=rate_per_s,
        flood_seconds=seconds,
        events=events,
        dropped=dropped,
    )


def check(usage: Usage, policy: Policy) -> list[str]:
    """Every limit the run exceeded, one line each."""
    limits = policy.limits
    problems: list[str] = []
    pairs: tuple[tuple[str, float, float], ...] = (
        ("limits.kernel_memory_bytes", usage.kernel_memory_bytes, limits.kernel_memory_bytes),
        ("limits.user_memory_bytes", usage.user_memory_bytes, limits.user_memory_bytes),
        ("limits.cpu_percent", usage.cpu_percent, limits.cpu_percent),
        ("OTHER_MAPS_MAX_BYTES (policy/loader.py)", usage.other_maps_bytes, OTHER_MAPS_MAX_BYTES),
    )
    for name, measured, limit in pairs:
        if measured > limit:
            problems.append(f"{name}: measured {measured:.0f}, over the limit of {limit:.0f}")
    if usage.flood_opens and usage.events == 0:
        problems.append("the flood produced no events: the measurement measured nothing")
    return problems
