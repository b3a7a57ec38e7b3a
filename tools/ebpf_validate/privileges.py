"""Least privilege: the smallest capability set each probe type starts and works with.

bee-trace runs as ``nobody`` (uid 65534) under ``setpriv`` with a chosen set
of ambient capabilities. A set *works* when bee-trace reports ready, reports
the event an action causes, and exits 0. Starting from a generous set, each
capability is dropped in turn while the set still works; what is left is
minimal, and the suite shows that without any one of them bee-trace exits
with code 3 naming it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bee_trace.host.checks import REQUIRED_CAPABILITIES
from tools.ebpf_validate.workload import (
    Run,
    bee_trace_argv,
    trigger_file,
    trigger_memory,
    trigger_network,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

NOBODY: Final = 65534
EXIT_HOST_REQUIREMENT: Final = 3

# tried, most powerful first, so that a weaker one that suffices is what remains;
# the bit of each (linux/capability.h)
CANDIDATES: Final = {
    "CAP_SYS_ADMIN": 21,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_RESOURCE": 24,
    "CAP_IPC_LOCK": 14,
    "CAP_KILL": 5,
    "CAP_NET_ADMIN": 12,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
}


def available(candidates: Mapping[str, int], permitted: int) -> list[str]:
    """The candidates this process can hand on (a container may hold fewer)."""
    return [name for name, bit in candidates.items() if permitted & (1 << bit)]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A probe type, the flags that choose its variant, and an action it must report."""

    name: str
    args: tuple[str, ...]
    action: Callable[[Path], None]
    policy: str | None = None
    enforcement: str | None = None  # "network enforcement" needs more capabilities


SCENARIOS: Final = (
    Scenario("file_monitor", ("--probe-type", "file_monitor"), trigger_file),
    Scenario("network_monitor", ("--probe-type", "network_monitor"), trigger_network),
    Scenario(
        "network_monitor --enforce",
        ("--probe-type", "network_monitor", "--enforce"),
        trigger_network,
        enforcement="network enforcement",
    ),
    Scenario("memory_monitor", ("--probe-type", "memory_monitor"), trigger_memory),
    Scenario(
        "memory_monitor, memory.enforce",
        ("--probe-type", "memory_monitor"),
        trigger_memory,
        policy="version: 1\nmemory:\n  enforce: true\n",
    ),
)


def expected_set(scenario: Scenario) -> list[str]:
    """What REQUIRED_CAPABILITIES says the scenario needs."""
    return [
        cap.name
        for cap in REQUIRED_CAPABILITIES
        if cap.needed_for in ("every probe", scenario.enforcement)
    ]


def setpriv_prefix(caps: Sequence[str], uid: int = NOBODY) -> list[str]:
    """setpriv options: uid, no groups, these capabilities inherited and ambient."""
    names = ",".join(["-all", *(f"+{c.removeprefix('CAP_').lower()}" for c in caps)])
    setpriv = shutil.which("setpriv") or "setpriv"
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        f"--inh-caps={names}",
        f"--ambient-caps={names}",
    ]


@dataclass
class Attempt:
    """One run of one scenario with one capability set."""

    scenario: str
    caps: tuple[str, ...]
    returncode: int | None
    ready: bool
    events: int
    message: str

    @property
    def works(self) -> bool:
        """Ready, reported the action, exited 0."""
        return self.ready and self.events > 0 and self.returncode == 0


@dataclass
class ScenarioResult:
    """The minimal set found for a scenario and the runs that show it."""

    scenario: str
    minimal: list[str]
    expected: list[str]
    attempts: list[Attempt] = field(default_factory=list)
    without_one: dict[str, Attempt] = field(default_factory=dict)


def attempt(scenario: Scenario, caps: Sequence[str], scratch: Path) -> Attempt:
    """Run bee-trace for one scenario with exactly ``caps``."""
    work = Path(tempfile.mkdtemp(dir=scratch))
    work.chmod(0o777)
    output = work / "events.jsonl"
    args = list(scenario.args)
    if scenario.policy is not None:
        policy = work / "policy.yml"
        policy.write_text(scenario.policy)
        policy.chmod(0o644)
        args += ["--config", str(policy)]
    argv = bee_trace_argv(*args, "--duration", "20", output=output, prefix=setpriv_prefix(caps))
    run = Run(argv, output)
    ready = run.start()
    if ready:
        scenario.action(work)
        # the consumer polls every 100 ms: give it up to 3 s
        for _ in range(30):
            if run.events():
                break
            time.sleep(0.1)
    code = run.stop()
    errors = [line for line in run.stderr if "error:" in line]
    return Attempt(
        scenario=scenario.name,
        caps=tuple(caps),
        returncode=code,
        ready=ready,
        events=run.events(),
        message=" | ".join(errors)[:600],
    )


def minimise(scenario: Scenario, candidates: Sequence[str], scratch: Path) -> ScenarioResult:
    """Drop capabilities one at a time while the scenario still works."""
    result = ScenarioResult(scenario.name, [], expected_set(scenario))
    current = list(candidates)
    first = attempt(scenario, current, scratch)
    result.attempts.append(first)
    if not first.works:
        return result
    for cap in candidates:
        trial = [c for c in current if c != cap]
        a = attempt(scenario, trial, scratch)
        result.attempts.append(a)
        if a.works:
            current = trial
    result.minimal = current
    final = attempt(scenario, current, scratch)
    result.attempts.append(final)
    for cap in current:
        result.without_one[cap] = attempt(scenario, [c for c in current if c != cap], scratch)
    return result


def check(results: Sequence[ScenarioResult], unprivileged: Attempt) -> list[str]:
    """Every way the measurement disagrees with REQUIRED_CAPABILITIES or the start-up check."""
    problems: list[str] = []
    for r in results:
        if not r.minimal:
            tried = ", ".join(r.attempts[0].caps)
            problems.append(f"{r.scenario}: does not work even with {tried}")
            continue
        if sorted(r.minimal) != sorted(r.expected):
            problems.append(
                f"{r.scenario}: minimal set measured is {', '.join(r.minimal)}; "
                f"REQUIRED_CAPABILITIES says {', '.join(r.expected)}"
            )
        if not r.attempts[-1].works:
            problems.append(f"{r.scenario}: the minimal set did not work a second time")
        for cap, a in r.without_one.items():
            if a.returncode != EXIT_HOST_REQUIREMENT or cap not in a.message:
                problems.append(
                    f"{r.scenario}: without {cap}, bee-trace exited {a.returncode} "
                    f"instead of 3 naming {cap}: {a.message or '(no error line)'}"
                )
    if unprivileged.returncode != EXIT_HOST_REQUIREMENT:
        problems.append(f"unprivileged run exited {unprivileged.returncode}, not 3")
    return problems


def measure(scratch: Path, permitted: int) -> tuple[list[ScenarioResult], Attempt]:
    """Minimise every scenario; run once with no capabilities at all."""
    candidates = available(CANDIDATES, permitted)
    results = [minimise(s, candidates, scratch) for s in SCENARIOS]
    unprivileged = attempt(SCENARIOS[0], [], scratch)
    return results, unprivileged
