"""The benchmark suite's regression gates and targets, on made-up figures."""

from __future__ import annotations

import pytest
from benchmarks import gate

BASELINE = {
    "throughput_events_per_s": 250_000,
    "peak_rss_mb": 50.0,
    "overhead_ratio": 1.2,
    "startup_ms": 200.0,
}


def test_figures_like_the_baseline_pass() -> None:
    assert gate.check(dict(BASELINE), BASELINE) == []


@pytest.mark.parametrize(
    ("figure", "value", "limit"),
    [
        # a slower decoder: throughput more than 10% down
        ("throughput_events_per_s", 224_000, 225_000),
        ("peak_rss_mb", 60.5, 60.0),
        ("overhead_ratio", 1.33, 1.32),
        ("startup_ms", 501.0, 500.0),
    ],
)
def test_each_gate_fails_past_its_threshold(figure: str, value: float, limit: float) -> None:
    (failure,) = gate.check(BASELINE | {figure: value}, BASELINE)
    assert (failure.figure, failure.value, failure.limit) == (figure, value, limit)
    assert f"gate failed: {figure} = {value:g}" in failure.message()
    assert f"threshold {limit:g}" in failure.message()


@pytest.mark.parametrize(
    ("figure", "value"),
    [
        ("throughput_events_per_s", 225_000),
        ("peak_rss_mb", 60.0),
        ("overhead_ratio", 1.32),
        ("startup_ms", 500.0),
    ],
)
def test_each_gate_holds_at_its_threshold(figure: str, value: float) -> None:
    assert gate.check(BASELINE | {figure: value}, BASELINE) == []


def test_no_baseline_gates_only_the_absolute_ceiling() -> None:
    figures = BASELINE | {"throughput_events_per_s": 1, "startup_ms": 600.0}
    assert [f.figure for f in gate.check(figures, {})] == ["startup_ms"]


def test_targets() -> None:
    status = gate.target_status(
        {
            "overhead_ratio": 1.21,
            "throughput_events_per_s": 250_000,
            "startup_ms": 299.0,
            "peak_rss_mb": 60.0,
        }
    )
    assert status == {
        "overhead_ratio": False,
        "throughput_events_per_s": True,
        "startup_ms": True,
        "peak_rss_mb": False,
    }
