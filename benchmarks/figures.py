"""The figures: each one a ratio or a count measured within one run of the suite.

Machines differ and this one is noisy, so nothing here is an absolute time
compared across runs except start-up, and every ratio compares runs
interleaved in the same suite run.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from benchmarks import kernel_stats, workloads
from benchmarks.monitor import BeeTrace, MonitorError, peak_rss_bytes

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from pathlib import Path

log = logging.getLogger(__name__)

ALL_PROBES: Final = ("--probe-type", "all")
# the writer must catch up this soon after the workload ends, or the ring
# buffer was only hiding a backlog: the rate was not sustained
CATCH_UP_S: Final = 0.5
DRAIN_TIMEOUT_S: Final = 30.0
LOOPBACK_PORT: Final = 47_811
_POLL_S: Final = 0.05
_STILL_POLLS: Final = 4


@dataclass(frozen=True, slots=True)
class Plan:
    """How much work each figure does; ``--short`` scales it down."""

    overhead_rounds: int = 7
    overhead_opens: int = 1_000_000
    flood_opens: int = 300_000
    trial_s: int = 3
    throughput_start: int = 50_000
    throughput_max: int = 1_000_000
    # the same resolution in both modes, so a short run gates against a full baseline
    search_steps: int = 5
    startup_runs: int = 11
    kernel_opens: int = 200_000

    @classmethod
    def short(cls) -> Plan:
        """Fewer rounds and shorter trials: the CI gate, well under two minutes."""
        return cls(
            overhead_rounds=3,
            overhead_opens=500_000,
            flood_opens=200_000,
            trial_s=2,
            startup_runs=10,
            kernel_opens=100_000,
        )


@dataclass(slots=True)
class Scratch:
    """The files the workloads open, and the policy of the throughput trials.

    ``watched`` (``id_rsa``) is watched by the default policy, ``unwatched``
    by no policy. ``flooded`` has a name no other process uses, and
    ``policy`` watches it alone: in the throughput trials only the workload
    reaches the ring buffer, so drops can be accounted for exactly even on
    a machine where other processes open ``id_rsa`` files meanwhile.
    """

    root: Path
    watched: Path = field(init=False)
    unwatched: Path = field(init=False)
    flooded: Path = field(init=False)
    policy: Path = field(init=False)

    def __post_init__(self) -> None:
        """Create the files and the policy."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.watched = self.root / "id_rsa"
        self.unwatched = self.root / "notes.txt"
        self.flooded = self.root / f"bee-trace-bench-{os.getpid()}.secret"
        for path in (self.watched, self.unwatched, self.flooded):
            path.write_text("bee-trace benchmark scratch file\n")
        self.policy = self.root / "bench-policy.yml"
        self.policy.write_text(f"version: 1\nfiles:\n  watch_read:\n    - {self.flooded}\n")


@dataclass(frozen=True, slots=True)
class Trial:
    """One throughput trial: a paced flood of watched opens into a JSON file."""

    target_rate: int
    generated: int
    generated_rate: float
    written: int
    dropped: int
    catch_up_s: float
    peak_rss_bytes: int

    @property
    def sustained(self) -> bool:
        """Nothing dropped, and the writer kept up with the workload."""
        return self.dropped == 0 and self.catch_up_s <= CATCH_UP_S

    @property
    def drop_fraction(self) -> float:
        """Share of the generated events that were dropped."""
        return self.dropped / self.generated if self.generated else 0.0


def _count_lines(path: Path, needle: bytes) -> int:
    """Lines of a JSON Lines file that hold needle (the workload's pid)."""
    with path.open("rb") as f:
        return sum(1 for line in f if needle in line)


def interleaved_ratios(
    argv: list[str | Path], under: Callable[[], AbstractContextManager[object]], rounds: int
) -> list[float]:
    """Ratios of argv's wall time while under() runs over its time bare, one per round.

    Rounds alternate which side runs first, so drift in the machine's speed
    falls on both sides alike.
    """
    ratios: list[float] = []
    for i in range(rounds):
        timed: dict[str, float] = {}
        for side in ("bare", "under") if i % 2 == 0 else ("under", "bare"):
            if side == "bare":
                timed[side] = workloads.run(argv).elapsed_s
                continue
            with under():
                timed[side] = workloads.run(argv).elapsed_s
        ratios.append(timed["under"] / timed["bare"])
        log.info("round %d: %.3f", i + 1, ratios[-1])
    return ratios


def overhead(bins: dict[str, Path], target: Path, opens: int, rounds: int) -> list[float]:
    """Ratios of the open workload's wall time with bee-trace running over bare, per round."""
    argv: list[str | Path] = [bins["open_loop"], target, str(opens), "0", "60"]
    return interleaved_ratios(
        argv, lambda: BeeTrace(*ALL_PROBES, "--format", "json", "--output", "/dev/null"), rounds
    )


def trial(bins: dict[str, Path], scratch: Scratch, rate: int, seconds: int) -> Trial:
    """Flood watched opens at rate for seconds; count what bee-trace wrote and dropped."""
    output = scratch.root / f"trial-{rate}.jsonl"
    output.unlink(missing_ok=True)
    count = rate * seconds
    argv: list[str | Path] = [bins["open_loop"], scratch.flooded, str(count), str(rate), "60"]
    args = ("--config", str(scratch.policy), "--format", "json", "--output", str(output))
    with BeeTrace(*ALL_PROBES, *args) as bt:
        result = workloads.run(argv)
        ended = time.monotonic()
        # wait until every event generated is written or counted as dropped
        caught_up = ended
        needle = f'"pid":{result.pid},'.encode()
        deadline = ended + DRAIN_TIMEOUT_S
        last_size, still = -1, 0
        while time.monotonic() < deadline and still < _STILL_POLLS:
            size = output.stat().st_size if output.exists() else 0
            if size == last_size:
                still += 1  # drained, or stalled for a moment: look a few more times
            else:
                last_size, still = size, 0
                caught_up = time.monotonic()
            time.sleep(_POLL_S)
        rss = peak_rss_bytes(bt.pid)
        summary = bt.stop()
    written = _count_lines(output, needle)
    output.unlink(missing_ok=True)
    # the file probe's own count: other probes (and other processes) are not this workload
    dropped = summary.probes["file_monitor"][1]
    if dropped != result.done - written:
        msg = (
            f"drop accounting does not add up at {rate}/s: bee-trace says {dropped} "
            f"dropped, but {result.done} generated - {written} written = "
            f"{result.done - written}"
        )
        raise MonitorError(msg)
    # the last write landed within one poll interval before caught_up
    catch_up = max(0.0, caught_up - ended - _POLL_S)
    done = Trial(
        target_rate=rate,
        generated=result.done,
        generated_rate=result.rate_per_s,
        written=written,
        dropped=dropped,
        catch_up_s=catch_up,
        peak_rss_bytes=rss,
    )
    log.info(
        "trial %d/s: generated %d at %.0f/s, written %d, dropped %d, caught up %.2fs",
        rate,
        done.generated,
        done.generated_rate,
        done.written,
        done.dropped,
        done.catch_up_s,
    )
    return done


def throughput(bins: dict[str, Path], scratch: Scratch, plan: Plan) -> tuple[Trial, Trial]:
    """Highest sustained rate (doubling, then bisecting), and a trial at twice it."""
    good: Trial | None = None
    bad: Trial | None = None
    rate = plan.throughput_start
    # doubling until a rate fails (bounded by throughput_max)
    while rate <= plan.throughput_max:
        t = trial(bins, scratch, rate, plan.trial_s)
        if not t.sustained:
            bad = t
            break
        good = t
        rate *= 2
    # bisect between the last good rate and the first bad one
    for _ in range(plan.search_steps if bad is not None else 0):
        low = good.target_rate if good is not None else 0
        high = bad.target_rate if bad is not None else rate
        mid = (low + high) // 2
        if high - low < max(1000, high // 50):
            break
        t = trial(bins, scratch, mid, plan.trial_s)
        if t.sustained:
            good = t
        else:
            bad = t
    if good is None:
        msg = f"bee-trace did not sustain even {plan.throughput_start // 2} events/s"
        good = trial(bins, scratch, plan.throughput_start // 2, plan.trial_s)
        if not good.sustained:
            raise MonitorError(msg)
    double = trial(bins, scratch, 2 * good.target_rate, plan.trial_s)
    return good, double


def flood_overhead(bins: dict[str, Path], scratch: Scratch, plan: Plan) -> list[float]:
    """Overhead ratios of the unpaced watched-open workload (every open an event)."""
    return overhead(bins, scratch.watched, plan.flood_opens, plan.overhead_rounds)


def startup(runs: int) -> list[float]:
    """Seconds from exec to the ready line, one per run."""
    times: list[float] = []
    for _ in range(runs):
        with BeeTrace(*ALL_PROBES, "--format", "json", "--output", "/dev/null") as bt:
            times.append(bt.startup_s)
    return times


def kernel_cost(bins: dict[str, Path], scratch: Scratch, opens: int) -> dict[str, float]:
    """Average run time per call (ns) of each bee-trace program under the workloads."""
    before = set(kernel_stats.programs())
    mixed: list[list[str | Path]] = [
        [bins["open_loop"], scratch.unwatched, str(opens), "0", "30"],
        [bins["open_loop"], scratch.watched, str(opens // 10), "50000", "30"],
        [bins["net_loop"], str(LOOPBACK_PORT), str(opens // 20), "30"],
        [bins["vm_read_loop"], str(opens // 10), "30"],
    ]
    with (
        kernel_stats.bpf_stats(),
        BeeTrace(*ALL_PROBES, "--format", "json", "--output", "/dev/null"),
    ):
        ours = set(kernel_stats.programs()) - before
        for argv in mixed:
            workloads.run(argv)
        stats = kernel_stats.programs()
    cost: dict[str, float] = {}
    for prog_id in sorted(ours):
        s = stats.get(prog_id)
        if s is None or s.run_cnt == 0:
            continue
        name = s.name if s.name not in cost else f"{s.name}#{prog_id}"
        cost[name] = round(s.run_time_ns / s.run_cnt, 1)
    return cost


def median(values: list[float]) -> float:
    """The median, rounded for the record."""
    return round(statistics.median(values), 4)
