"""Choosing the perf-buffer fallback and the degraded enforcement, without the kernel."""

from __future__ import annotations

import errno
from types import SimpleNamespace

import pytest

from bee_trace.bpf import libbpf
from bee_trace.errors import LoadError
from bee_trace.host import features
from bee_trace.runtime import output_drops, perfbuf_object


@pytest.mark.parametrize("value", ["1", "true", "YES", " yes "])
def test_a_force_switch_is_on(value: str) -> None:
    assert features.forced({"BEE_TRACE_FORCE_PERFBUF": value}, "BEE_TRACE_FORCE_PERFBUF")


@pytest.mark.parametrize("value", ["", "0", "no", "false", "2"])
def test_a_force_switch_is_off(value: str) -> None:
    assert not features.forced({"BEE_TRACE_FORCE_PERFBUF": value}, "BEE_TRACE_FORCE_PERFBUF")
    assert not features.forced({}, "BEE_TRACE_FORCE_PERFBUF")


def _kernel(monkeypatch: pytest.MonkeyPatch, *, ringbuf: bool, cgroup: bool) -> None:
    monkeypatch.setattr(features, "map_type_supported", lambda t: ringbuf and t == 27)
    monkeypatch.setattr(features, "prog_type_supported", lambda t: cgroup and t == 18)


def test_ring_buffers_where_the_kernel_has_them(monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel(monkeypatch, ringbuf=True, cgroup=True)
    assert features.ring_buffer_missing({}) is None
    assert features.cgroup_hooks_missing({}) is None


def test_a_kernel_without_them_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel(monkeypatch, ringbuf=False, cgroup=False)
    assert "no BPF ring buffer" in str(features.ring_buffer_missing({}))
    assert "BPF_PROG_TYPE_CGROUP_SOCK_ADDR" in str(features.cgroup_hooks_missing({}))


def test_forcing_answers_unsupported_on_a_kernel_that_has_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _kernel(monkeypatch, ringbuf=True, cgroup=True)
    env = {"BEE_TRACE_FORCE_PERFBUF": "1", "BEE_TRACE_FORCE_NO_CGROUP": "1"}
    assert features.ring_buffer_missing(env) == "forced by BEE_TRACE_FORCE_PERFBUF"
    assert "forced by BEE_TRACE_FORCE_NO_CGROUP" in str(features.cgroup_hooks_missing(env))


def test_perfbuf_object_name() -> None:
    assert perfbuf_object("file_monitor.bpf.o") == "file_monitor.perfbuf.bpf.o"


@pytest.mark.parametrize(
    ("total", "cpus", "expected"),
    [
        (4 << 20, 2, 512),
        (4 << 20, 3, 256),  # 341 pages each, down to a power of two
        (1 << 16, 1, 16),
        (1 << 16, 64, 1),  # at least one page per CPU
        (0, 0, 1),
    ],
)
def test_perf_pages_share_the_ring_buffer_size(total: int, cpus: int, expected: int) -> None:
    assert libbpf.perf_pages_per_cpu(total, cpus, 4096) == expected


@pytest.mark.parametrize(
    ("kernel", "perf", "expected"),
    [(0, 0, 0), (5, 0, 5), (5, 5, 5), (3, 7, 7)],
)
def test_output_drops_are_not_counted_twice(kernel: int, perf: int, expected: int) -> None:
    assert output_drops(kernel, perf) == expected


def test_a_failing_perf_buffer_consume_is_a_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    perf = libbpf.PerfBuffer(1)
    perf._buffers.append(1)  # noqa: SLF001 - stands for a consumer libbpf made
    monkeypatch.setattr(
        libbpf, "lib", lambda: SimpleNamespace(perf_buffer__consume=lambda _ptr: -errno.EBADF)
    )
    with pytest.raises(LoadError) as e:
        perf.consume()
    assert e.value.errno == errno.EBADF
    assert str(e.value) == "perf buffer consume failed: EBADF (Bad file descriptor)"
