"""Verifier report: load every program of every object, in every variant the runtime uses.

Each object is opened and configured by its probe exactly as bee-trace does
(policy-derived read-only globals decide which branches the verifier sees),
with the verifier's statistics log (level 4) on for every program, then loaded
on the running kernel through bee-trace's own libbpf binding.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bee_trace.bpf import BpfObject
from bee_trace.errors import LoadError
from bee_trace.host.features import FORCE_NO_TASK_BTF_ENV
from bee_trace.policy import load_policy
from bee_trace.probes import PROBES, ProbeContext
from bee_trace.probes.base import object_path
from bee_trace.runtime import perfbuf_object
from tools.ebpf_validate.audit import helper_calls

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from bee_trace.policy import Policy

VERIFIER_LIMIT: Final = 1_000_000  # BPF_COMPLEXITY_LIMIT_INSNS
STACK_LIMIT: Final = 512  # MAX_BPF_STACK
LOG_LEVEL_STATS: Final = 4  # BPF_LOG_STATS

_PROCESSED: Final = re.compile(r"processed (\d+) insns")
_STACK: Final = re.compile(r"stack depth ([\d+]+)")


@dataclass(frozen=True, slots=True)
class Variant:
    """One way the runtime configures a probe's object."""

    probe: str
    name: str
    enforce: bool
    transport: str = "ringbuf"  # or "perfbuf", the fallback without ring buffers
    # "regs": exit programs read the call's arguments (bpf_task_pt_regs, 5.15);
    # "entry": entry programs keep them, as on older kernels (forced here)
    args: str = "regs"

    def object_name(self, name: str) -> str:
        """The object file this variant loads."""
        return perfbuf_object(name) if self.transport == "perfbuf" else name


_CONFIGS: Final = (
    ("file_monitor", "monitor", False),
    ("network_monitor", "monitor", False),
    ("network_monitor", "enforce", True),
    ("memory_monitor", "monitor", False),
    ("memory_monitor", "enforce", True),
)
VARIANTS: Final = tuple(
    Variant(probe, name, enforce=enforce, transport=transport, args=args)
    for transport in ("ringbuf", "perfbuf")
    for args in ("regs", "entry")
    for probe, name, enforce in _CONFIGS
)


@dataclass(frozen=True, slots=True)
class LogStats:
    """What the verifier's statistics log says about one program."""

    processed_insns: int
    stack_bytes: int | None


def parse_log(text: str) -> LogStats:
    """Read "processed N insns" and "stack depth A+B" from a level-4 verifier log."""
    m = _PROCESSED.search(text)
    if m is None:
        msg = f"verifier log has no 'processed N insns' line: {text[-200:]!r}"
        raise ValueError(msg)
    stack = _STACK.search(text)
    depth = sum(int(part) for part in stack.group(1).split("+") if part) if stack else None
    return LogStats(processed_insns=int(m.group(1)), stack_bytes=depth)


@dataclass(frozen=True, slots=True)
class ProgramReport:
    """One loaded program: verifier work, sizes, helpers."""

    probe: str
    variant: str
    transport: str
    program: str
    section: str
    processed_insns: int
    verified_insns: int
    stack_bytes: int | None
    xlated_bytes: int
    jited_bytes: int
    helper_ids: tuple[int, ...]

    @property
    def object(self) -> str:
        """The object, as reports name it: ``file_monitor`` or ``file_monitor.perfbuf``."""
        return self.probe if self.transport == "ringbuf" else f"{self.probe}.{self.transport}"

    @property
    def key(self) -> str:
        """``object/program``, as budgets.toml and helpers.toml name it."""
        return f"{self.object}/{self.program}"


@dataclass(frozen=True, slots=True)
class MapReport:
    """One map of a loaded object and the kernel memory it locks."""

    probe: str
    variant: str
    transport: str
    name: str
    map_type: int
    max_entries: int
    memlock_bytes: int

    @property
    def object(self) -> str:
        """The object, as reports name it (see :attr:`ProgramReport.object`)."""
        return self.probe if self.transport == "ringbuf" else f"{self.probe}.{self.transport}"


def fdinfo(fd: int, pid: int | str = "self") -> dict[str, str]:
    """The ``key: value`` lines of /proc/<pid>/fdinfo/<fd>."""
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/fdinfo/{fd}").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def _policy_for(variant: Variant, base: Policy) -> Policy:
    memory = dataclasses.replace(base.memory, enforce=variant.enforce)
    network = dataclasses.replace(base.network, enforce=variant.enforce)
    return dataclasses.replace(base, memory=memory, network=network)


def load_variant(
    variant: Variant, base: Policy | None = None
) -> tuple[list[ProgramReport], list[MapReport]]:
    """Load one variant with verifier statistics on; report it, then unload it."""
    policy = _policy_for(variant, base or load_policy(None))
    probe = PROBES[variant.probe](
        ProbeContext(policy=policy, self_pid=os.getpid(), boot_to_utc_ns=0, enforce=variant.enforce)
    )
    obj = BpfObject(object_path(variant.object_name(probe.object_name)))
    forced = os.environ.get(FORCE_NO_TASK_BTF_ENV)
    try:
        if variant.transport == "ringbuf":
            # a perf event array has one entry per CPU; its buffers are sized when opened
            obj.map("events").set_max_entries(policy.limits.ring_buffer_bytes)
        if variant.args == "entry":
            # the switch that makes the kernel look like one before 5.11
            os.environ[FORCE_NO_TASK_BTF_ENV] = "1"
        try:
            probe.configure(obj)
        finally:
            if forced is None:
                os.environ.pop(FORCE_NO_TASK_BTF_ENV, None)
            else:
                os.environ[FORCE_NO_TASK_BTF_ENV] = forced
        names = obj.program_names()
        for name in names:
            obj.set_log(name, level=LOG_LEVEL_STATS)
        obj.load()
        programs: list[ProgramReport] = []
        for name in names:
            try:
                info = obj.program_info(name)
            except LoadError:
                continue  # not loaded in this variant (autoload off)
            stats = parse_log(obj.program_log(name))
            programs.append(
                ProgramReport(
                    probe=variant.probe,
                    variant=f"{variant.name}/{variant.args}",
                    transport=variant.transport,
                    program=name,
                    section=obj.section(name),
                    processed_insns=stats.processed_insns,
                    verified_insns=info.verified_insns,
                    stack_bytes=stats.stack_bytes,
                    xlated_bytes=info.xlated_bytes,
                    jited_bytes=info.jited_bytes,
                    helper_ids=tuple(sorted(helper_calls(obj.program_insns(name)))),
                )
            )
        maps: list[MapReport] = []
        for name in obj.map_names():
            m = obj.map(name)
            info_lines = fdinfo(m.fd)
            maps.append(
                MapReport(
                    probe=variant.probe,
                    variant=f"{variant.name}/{variant.args}",
                    transport=variant.transport,
                    name=name,
                    map_type=int(info_lines.get("map_type", "0")),
                    max_entries=m.max_entries,
                    memlock_bytes=int(info_lines.get("memlock", "0")),
                )
            )
        return programs, maps
    finally:
        obj.close()


def load_all(
    variants: Iterable[Variant] = VARIANTS,
) -> tuple[list[ProgramReport], list[MapReport]]:
    """Load every variant, one after the other."""
    programs: list[ProgramReport] = []
    maps: list[MapReport] = []
    for variant in variants:
        p, m = load_variant(variant)
        programs.extend(p)
        maps.extend(m)
    return programs, maps


def check_budgets(programs: Iterable[ProgramReport], budgets: Mapping[str, int]) -> list[str]:
    """Every program over its budget, or without one, one line each."""
    problems: list[str] = []
    worst: dict[str, ProgramReport] = {}
    for p in programs:
        if p.key not in worst or p.processed_insns > worst[p.key].processed_insns:
            worst[p.key] = p
        if p.stack_bytes is not None and p.stack_bytes > STACK_LIMIT:
            problems.append(f"{p.key} ({p.variant}): stack depth {p.stack_bytes} > {STACK_LIMIT}")
    for key, p in sorted(worst.items()):
        budget = budgets.get(key)
        if budget is None:
            problems.append(
                f"{key}: no budget in budgets.toml (processed {p.processed_insns} insns): add one"
            )
        elif p.processed_insns > budget:
            problems.append(
                f"{key} ({p.variant}): verifier processed {p.processed_insns} insns, "
                f"over its budget of {budget} ({budget / VERIFIER_LIMIT:.1%} of the limit)"
            )
    return problems


def read_budgets(data: Mapping[str, object]) -> dict[str, int]:
    """``[processed_insns]`` ``"obj/prog" = N`` of budgets.toml."""
    table = data.get("processed_insns")
    if not isinstance(table, dict):
        msg = "budgets.toml needs a [processed_insns] table"
        raise TypeError(msg)
    return {str(k): int(v) for k, v in table.items()}
