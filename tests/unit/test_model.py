"""The model's shared helpers: interned process records and cached timestamps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bee_trace.events import model
from bee_trace.events.model import ProcessInfo, process_info, utc_from_ns

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference(ns: int) -> datetime:
    """What decoding computed before the per-second cache."""
    return EPOCH + timedelta(microseconds=ns // 1000)


@pytest.mark.parametrize(
    "ns",
    [0, 1, 999, 1000, 999_999_999, 10**9, 1_790_000_000_123_456_789, 253_402_300_799_999_999_999],
)
def test_utc_from_ns_is_the_epoch_plus_the_microseconds(ns: int) -> None:
    assert utc_from_ns(ns) == reference(ns)
    assert utc_from_ns(ns).tzinfo is UTC


def test_utc_from_ns_agrees_over_many_values_and_seconds() -> None:
    rng = random.Random(1)  # noqa: S311 - test data, not a secret
    base = 1_790_000_000 * 10**9
    for _ in range(5000):
        ns = base + rng.randrange(0, 3000 * 10**9)
        assert utc_from_ns(ns) == reference(ns)
    assert len(model._seconds) <= model._INTERN_MAX  # noqa: SLF001


def test_a_time_past_year_9999_fails_as_before() -> None:
    ns = 253_402_300_800 * 10**9
    with pytest.raises(OverflowError):
        reference(ns)
    with pytest.raises(OverflowError):
        utc_from_ns(ns)


def test_process_info_is_shared_for_equal_values() -> None:
    first = process_info(1, 2, 3, 4, b"cat")
    assert first == ProcessInfo(pid=1, tid=2, ppid=3, uid=4, comm=b"cat")
    assert process_info(1, 2, 3, 4, b"cat") is first
    assert process_info(1, 2, 3, 4, b"dog") is not first


def test_the_process_cache_stays_bounded() -> None:
    for pid in range(3 * model._INTERN_MAX):  # noqa: SLF001
        assert process_info(pid, pid, 1, 0, b"x").pid == pid
    assert len(model._processes) <= model._INTERN_MAX  # noqa: SLF001
