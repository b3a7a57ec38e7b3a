"""``python -m benchmarks``: measure every figure, record it, and enforce the gates.

python -m benchmarks                    the full suite (a few minutes)
python -m benchmarks --short            fewer rounds, same gates: for CI
python -m benchmarks --update-baseline  accept these figures as the baseline
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import figures, gate, peers, report, workloads
from benchmarks.figures import Plan, Scratch, median

log = logging.getLogger("benchmarks")

MICRO = Path(__file__).resolve().parent / "micro"


def _micro(short: bool) -> dict[str, float]:  # noqa: FBT001 - one flag, passed through
    """Run the pytest-benchmark microbenchmarks; mean microseconds per benchmark."""
    out = report.REPORTS / "micro-latest.json"
    report.REPORTS.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(MICRO),
        "--benchmark-only", f"--benchmark-json={out}",
        f"--benchmark-max-time={0.2 if short else 1.0}", "--benchmark-disable-gc",
    ]  # fmt: skip
    subprocess.run(argv, check=True, cwd=workloads.ROOT)  # noqa: S603 - our own test run
    data = json.loads(out.read_text())
    return {b["name"]: round(b["stats"]["mean"] * 1e6, 3) for b in data["benchmarks"]}


def measure(plan: Plan, *, with_micro: bool, short: bool) -> dict[str, Any]:
    """Every figure, in one run."""
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bee-trace-bench-") as tmp:
        scratch = Scratch(Path(tmp))
        # run copies: a clean build (scripts/bootstrap.sh) may remove build/ meanwhile
        bins = workloads.install(workloads.build(), scratch.root / "bin")

        log.info("start-up: %d runs", plan.startup_runs)
        startups = figures.startup(plan.startup_runs)
        found["startup_ms"] = round(figures.median(startups) * 1000, 1)

        log.info(
            "overhead: %d rounds of %d unwatched opens", plan.overhead_rounds, plan.overhead_opens
        )
        ratios = figures.overhead(
            bins, scratch.unwatched, plan.overhead_opens, plan.overhead_rounds
        )
        found["overhead_ratio"] = median(ratios)
        found["overhead_ratios"] = {str(i + 1): round(r, 4) for i, r in enumerate(ratios)}

        log.info(
            "flood overhead: %d rounds of %d watched opens", plan.overhead_rounds, plan.flood_opens
        )
        flood = figures.flood_overhead(bins, scratch, plan)
        found["flood_overhead_ratio"] = median(flood)

        log.info("throughput: search from %d events/s", plan.throughput_start)
        good, double = figures.throughput(bins, scratch, plan)
        found["throughput_events_per_s"] = good.target_rate
        found["throughput_generated_per_s"] = round(good.generated_rate)
        found["drop_fraction_at_2x"] = round(double.drop_fraction, 4)
        found["peak_rss_mb"] = round(max(good.peak_rss_bytes, double.peak_rss_bytes) / 2**20, 1)

        log.info("kernel cost: BPF stats over the mixed workload")
        found["kernel_ns_per_call"] = figures.kernel_cost(bins, scratch, plan.kernel_opens)

        if not short:
            found["peers"] = _peers(bins, scratch, plan)
    if with_micro:
        log.info("microbenchmarks")
        found["micro_us"] = _micro(short)
    return found


def _peers(bins: dict[str, Path], scratch: Scratch, plan: Plan) -> dict[str, Any]:
    """Overhead ratios of the same workload under bpftrace and auditd, where installed."""
    argv: list[str | Path] = [
        bins["open_loop"], scratch.unwatched, str(plan.overhead_opens), "0", "60",
    ]  # fmt: skip
    found: dict[str, Any] = {}
    for name, peer in (
        ("bpftrace", peers.bpftrace),
        ("auditd", lambda: peers.auditd_watch(scratch.watched)),
    ):
        log.info("peer %s: %d rounds of unwatched opens", name, plan.overhead_rounds)
        try:
            ratios = figures.interleaved_ratios(argv, peer, plan.overhead_rounds)
        except peers.PeerUnavailableError as exc:
            log.warning("peer %s not measured: %s", name, exc)
            found[name] = str(exc)
            continue
        found[name] = median(ratios)
    return found


def _update_baseline(result: dict[str, Any]) -> None:
    kept = {
        "commit": result["commit"]["sha"],
        "time": result["time"],
        "mode": result["mode"],
        "machine": result["machine"],
        "figures": {
            k: v for k, v in result["figures"].items() if k in gate.RELATIVE or k in gate.ABSOLUTE
        },
    }
    report.BASELINE.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
    with report.HISTORY.open("a") as f:
        f.write(json.dumps(result, sort_keys=True) + "\n")
    log.info("baseline updated: %s; appended to %s", report.BASELINE, report.HISTORY)


def main(argv: list[str] | None = None) -> int:
    """Measure, record, report, gate."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--short", action="store_true", help="fewer rounds: for CI")
    parser.add_argument(
        "--update-baseline", action="store_true", help="accept these figures as the baseline"
    )
    parser.add_argument("--no-micro", action="store_true", help="skip the microbenchmarks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    if os.geteuid() != 0:
        log.error("error: the suite loads BPF programs and needs root")
        return 2

    started = time.monotonic()
    plan = Plan.short() if args.short else Plan()
    result: dict[str, Any] = {
        "time": report.now(),
        "commit": report.commit(),
        "machine": report.machine(),
        "mode": "short" if args.short else "full",
    }
    result["figures"] = measure(plan, with_micro=not args.no_micro, short=args.short)
    result["suite_s"] = round(time.monotonic() - started, 1)

    baseline_doc = json.loads(report.BASELINE.read_text()) if report.BASELINE.exists() else {}
    baseline = baseline_doc.get("figures", {})
    failures = gate.check(result["figures"], baseline)
    path = report.write_result(result)
    chart = report.REPORTS / "history.png"
    report.chart(report.history(), chart)
    md = report.REPORTS / "report.md"
    md.write_text(report.markdown(result, baseline, failures, chart.name))
    log.info("result %s, report %s, chart %s (%.0fs)", path, md, chart, result["suite_s"])
    for name, ok in gate.target_status(result["figures"]).items():
        log.info(
            "target %s: %s (%s)", name, "reached" if ok else "NOT reached", result["figures"][name]
        )

    if args.update_baseline:
        for failure in failures:
            log.warning("accepted despite: %s", failure.message())
        _update_baseline(result)
        return 0
    for failure in failures:
        log.error("%s", failure.message())
    if not baseline:
        log.warning("no baseline yet: run with --update-baseline to accept these figures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
