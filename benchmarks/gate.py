"""Regression gates: compare a run's figures with the accepted baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

# figure -> (direction, relative threshold); "higher" means higher is better
RELATIVE: Final[dict[str, tuple[Literal["higher", "lower"], float]]] = {
    "throughput_events_per_s": ("higher", 0.10),
    "peak_rss_mb": ("lower", 0.20),
    "overhead_ratio": ("lower", 0.10),
}
# figure -> absolute ceiling
ABSOLUTE: Final[dict[str, float]] = {"startup_ms": 500.0}

# what bee-trace aims for on the reference machine (docs/benchmarks.md)
TARGETS: Final[dict[str, tuple[Literal["<=", ">=", "<"], float]]] = {
    "overhead_ratio": ("<=", 1.20),
    "throughput_events_per_s": (">=", 250_000),
    "startup_ms": ("<", 300.0),
    "peak_rss_mb": ("<", 60.0),
}


@dataclass(frozen=True, slots=True)
class Failure:
    """One gate that failed, with everything needed to say why."""

    figure: str
    value: float
    baseline: float | None
    limit: float
    rule: str

    def message(self) -> str:
        """One line naming the figure, its value, the baseline and the threshold."""
        base = "" if self.baseline is None else f", baseline {self.baseline:g}"
        return (
            f"gate failed: {self.figure} = {self.value:g}{base}, "
            f"threshold {self.limit:g} ({self.rule})"
        )


def check(figures: dict[str, Any], baseline: dict[str, Any]) -> list[Failure]:
    """Every gate the figures fail against the baseline's figures."""
    failures: list[Failure] = []
    for name, (better, share) in RELATIVE.items():
        value, base = figures.get(name), baseline.get(name)
        if value is None or base is None:
            continue
        if better == "higher":
            limit = base * (1 - share)
            if value < limit:
                rule = f"may drop at most {share:.0%} below baseline"
                failures.append(Failure(name, value, base, round(limit, 4), rule))
        else:
            limit = base * (1 + share)
            if value > limit:
                rule = f"may grow at most {share:.0%} over baseline"
                failures.append(Failure(name, value, base, round(limit, 4), rule))
    for name, ceiling in ABSOLUTE.items():
        value = figures.get(name)
        if value is not None and value > ceiling:
            failures.append(Failure(name, value, baseline.get(name), ceiling, "absolute ceiling"))
    return failures


def target_status(figures: dict[str, Any]) -> dict[str, bool]:
    """For each target, whether the figure reaches it."""
    status: dict[str, bool] = {}
    for name, (op, bound) in TARGETS.items():
        value = figures.get(name)
        if value is None:
            continue
        status[name] = {
            "<=": value <= bound,
            ">=": value >= bound,
            "<": value < bound,
        }[op]
    return status
