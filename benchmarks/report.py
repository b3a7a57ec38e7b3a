"""The record of a run: JSON result, Markdown report, and a chart of the history."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from benchmarks.gate import TARGETS, Failure, target_status
from benchmarks.workloads import ROOT

REPORTS: Final = ROOT / "reports" / "bench"
HISTORY: Final = ROOT / "benchmarks" / "history.jsonl"
BASELINE: Final = ROOT / "benchmarks" / "baseline.json"

# figures charted over the history, with their units
CHARTED: Final = (
    ("overhead_ratio", "overhead (x)"),
    ("flood_overhead_ratio", "flood overhead (x)"),
    ("throughput_events_per_s", "throughput (events/s)"),
    ("startup_ms", "start-up (ms)"),
    ("peak_rss_mb", "peak RSS (MB)"),
)


def _git(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def commit() -> dict[str, Any]:
    """The commit measured, and whether the tree had changes on top of it."""
    return {"sha": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain"))}


def machine() -> dict[str, Any]:
    """Facts about the machine that make figures comparable, or not."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_mb": mem_kb // 1024,
        "python": platform.python_version(),
    }


def write_result(result: dict[str, Any]) -> Path:
    """Store one run's result as reports/bench/<time>-<sha>.json."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = result["time"].replace(":", "").replace("-", "")
    path = REPORTS / f"{stamp}-{result['commit']['sha'][:12]}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


def now() -> str:
    """The current time, UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def history() -> list[dict[str, Any]]:
    """Accepted runs (benchmarks/history.jsonl), then local runs (reports/bench/)."""
    runs: list[dict[str, Any]] = []
    if HISTORY.exists():
        runs += [json.loads(line) for line in HISTORY.read_text().splitlines() if line.strip()]
    if REPORTS.exists():
        seen = {r["time"] for r in runs}
        for path in sorted(REPORTS.glob("*.json")):
            if path.name.startswith("micro-"):
                continue
            run = json.loads(path.read_text())
            if run.get("time") not in seen:
                runs.append(run)
    return sorted(runs, key=lambda r: str(r["time"]))


def chart(runs: list[dict[str, Any]], path: Path) -> None:
    """One panel per charted figure, over the runs in time order."""
    import matplotlib as mpl  # noqa: PLC0415 - only the report needs it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(len(CHARTED), 1, figsize=(8, 2.2 * len(CHARTED)), sharex=True)
    labels = [f"{r['time'][:16]}\n{r['commit']['sha'][:7]}" for r in runs]
    for ax, (name, unit) in zip(axes, CHARTED, strict=True):
        xs = [i for i, r in enumerate(runs) if r["figures"].get(name) is not None]
        ys = [runs[i]["figures"][name] for i in xs]
        ax.plot(xs, ys, marker="o")
        target = TARGETS.get(name)
        if target is not None:
            ax.axhline(target[1], color="tab:red", linestyle="--", linewidth=1)
        ax.set_ylabel(unit, fontsize=8)
        ax.grid(visible=True, alpha=0.3)
    axes[-1].set_xticks(range(len(runs)), labels, fontsize=6, rotation=45, ha="right")
    fig.suptitle("bee-trace benchmark history (dashed: target)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _row(name: str, value: Any, base: Any, *, ok: bool | None) -> str:  # noqa: ANN401 - JSON values
    target = TARGETS.get(name)
    aim = f"{target[0]} {target[1]:g}" if target else ""
    mark = "" if ok is None else ("reached" if ok else "**not reached**")
    return f"| `{name}` | {value} | {'' if base is None else base} | {aim} | {mark} |"


def markdown(
    result: dict[str, Any], baseline: dict[str, Any], failures: list[Failure], chart_name: str
) -> str:
    """The human-readable report of one run."""
    figures = result["figures"]
    status = target_status(figures)
    dirty = " (dirty)" if result["commit"]["dirty"] else ""
    lines = [
        f"# bee-trace benchmark, {result['time']}",
        "",
        (
            f"Commit `{result['commit']['sha'][:12]}`{dirty}, mode {result['mode']}, "
            f"{result['machine']['cpus']} CPUs ({result['machine']['cpu']}), "
            f"kernel {result['machine']['kernel']}."
        ),
        "",
        "| figure | value | baseline | target | |",
        "|---|---|---|---|---|",
    ]
    lines += [
        _row(name, value, baseline.get(name), ok=status.get(name))
        for name, value in sorted(figures.items())
        if not isinstance(value, dict)
    ]
    lines += ["", "## Gates", ""]
    lines += [f"- {f.message()}" for f in failures] or ["- every gate passed"]
    lines += ["", "## Kernel cost (average ns per call)", ""]
    lines += [f"- `{k}`: {v}" for k, v in sorted(figures.get("kernel_ns_per_call", {}).items())]
    peers = figures.get("peers", {})
    if peers:
        lines += ["", "## Beside peers (overhead ratio of the same unwatched-open workload)", ""]
        lines += [f"- bee-trace (`--probe-type all`): {figures.get('overhead_ratio')}"]
        lines += [f"- {k}: {v}" for k, v in sorted(peers.items())]
    micro = figures.get("micro_us", {})
    if micro:
        lines += ["", "## Microbenchmarks (mean microseconds)", ""]
        lines += [f"- `{k}`: {v}" for k, v in sorted(micro.items())]
    lines += ["", f"![history]({chart_name})", ""]
    return "\n".join(lines)
