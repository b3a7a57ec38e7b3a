"""The eBPF validation suite and the binding calls it adds, on the real kernel."""

from __future__ import annotations

import dataclasses
import errno
import tomllib
from pathlib import Path

import pytest
from tools.ebpf_validate import audit, limits, verifier
from tools.ebpf_validate.workload import Run, bee_trace_argv

from bee_trace.bpf import BpfObject
from bee_trace.errors import LoadError
from bee_trace.policy import load_policy
from bee_trace.policy.loader import OTHER_MAPS_MAX_BYTES
from bee_trace.policy.model import LimitsPolicy
from bee_trace.probes.base import object_path

pytestmark = pytest.mark.kernel

TOOL = Path(__file__).parents[2] / "tools" / "ebpf_validate"
BPF_MAP_TYPE_RINGBUF = 27


def test_verifier_statistics_and_program_info() -> None:
    obj = BpfObject(object_path("network_monitor.bpf.o"))
    try:
        assert obj.map_names()[:2] == ["events", "counters"]
        obj.set_autoload("deny_udplite", enabled=False)
        obj.set_log("deny_connect4", level=verifier.LOG_LEVEL_STATS)
        with pytest.raises(LoadError, match="no verifier log was asked for"):
            obj.program_log("enter_connect")
        obj.load()
        stats = verifier.parse_log(obj.program_log("deny_connect4"))
        info = obj.program_info("deny_connect4")
        assert info.id > 0
        assert info.verified_insns == stats.processed_insns > 0
        assert info.xlated_bytes > 0
        assert info.jited_bytes > 0
        assert info.map_count >= 1
        insns = obj.program_insns("deny_connect4")
        assert len(insns) % 8 == 0
        assert audit.helper_calls(insns) == {1}  # map_lookup_elem
        with pytest.raises(LoadError, match="is not loaded"):
            obj.program_info("deny_udplite")
    finally:
        obj.close()


def test_set_max_entries_before_and_after_load() -> None:
    obj = BpfObject(object_path("file_monitor.bpf.o"))
    try:
        events = obj.map("events")
        events.set_max_entries(1 << 16)
        assert events.max_entries == 1 << 16
        obj.load()
        with pytest.raises(LoadError, match="cannot set map events") as caught:
            events.set_max_entries(1 << 17)
        assert caught.value.errno == errno.EBUSY
    finally:
        obj.close()


def test_every_variant_loads_within_budget_and_allow_list() -> None:
    programs, maps = verifier.load_all()
    budgets = verifier.read_budgets(tomllib.loads((TOOL / "budgets.toml").read_text()))
    assert verifier.check_budgets(programs, budgets) == []
    names = audit.helper_names(Path("/usr/include/linux/bpf.h").read_text())
    allow = audit.AllowList.from_toml(tomllib.loads((TOOL / "helpers.toml").read_text()))
    used = {p.key: [names[i] for i in p.helper_ids] for p in programs}
    assert audit.check_helpers(used, allow) == []
    deny = {p.program for p in programs if p.program.startswith("deny_")}
    assert len(deny) == 5
    assert all(m.memlock_bytes > 0 for m in maps if m.map_type == BPF_MAP_TYPE_RINGBUF)


def test_a_variant_takes_the_ring_buffer_size_of_the_policy() -> None:
    base = load_policy(None)
    policy = dataclasses.replace(base, limits=LimitsPolicy(ring_buffer_bytes=1 << 16))
    _, maps = verifier.load_variant(verifier.VARIANTS[0], policy)
    (events,) = [m for m in maps if m.name == "events"]
    assert events.max_entries == 1 << 16


def test_bee_trace_sizes_its_ring_buffers_from_the_policy(tmp_path: Path) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text("limits:\n  ring_buffer_bytes: 65536\n")
    output = tmp_path / "events.jsonl"
    run = Run(bee_trace_argv("--config", str(policy), "--duration", "20", output=output), output)
    assert run.start(), run.stderr
    try:
        total, rings, count = limits.locked_kernel_memory(run.pid)
    finally:
        assert run.stop() == 0
    assert count > 3
    # three ring buffers of 64 KiB, each with its pages mapped twice and a header
    assert 3 * 65536 <= rings < 3 * 4 * 65536
    assert total - rings <= OTHER_MAPS_MAX_BYTES


def test_bounded_flood_is_measured() -> None:
    usage = limits.measure(None, rate_per_s=1000, seconds=1)
    assert usage.flood_opens > 0
    assert usage.events >= usage.flood_opens
    assert usage.user_memory_bytes > 0
    assert limits.check(usage, load_policy(None)) == []
