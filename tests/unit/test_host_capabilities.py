"""The one list of required capabilities: start-up check, docs and manifests agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bee_trace.host.checks import (
    CAP_BPF,
    CAP_NET_ADMIN,
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    REQUIRED_CAPABILITIES,
    missing_privileges,
)

REPO = Path(__file__).parents[2]


def caps_of(*bits: int) -> int:
    return sum(1 << b for b in bits)


def test_network_enforcement_needs_cap_net_admin() -> None:
    lines = missing_privileges(caps_of(CAP_BPF, CAP_PERFMON), network_enforce=True)
    assert lines == [
        (
            "capability CAP_NET_ADMIN (or CAP_SYS_ADMIN) for network enforcement: needed to load "
            "and attach the cgroup programs that deny blocked destinations"
        )
    ]


def test_monitoring_does_not_need_cap_net_admin() -> None:
    assert missing_privileges(caps_of(CAP_BPF, CAP_PERFMON)) == []


@pytest.mark.parametrize(
    "caps", [caps_of(CAP_SYS_ADMIN), caps_of(CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN)]
)
def test_enforcement_capabilities_are_enough(caps: int) -> None:
    assert missing_privileges(caps, network_enforce=True) == []


def test_nothing_names_all_three() -> None:
    lines = missing_privileges(0, network_enforce=True)
    assert [line.split()[1] for line in lines] == ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"]


def test_docs_list_exactly_the_required_capabilities() -> None:
    text = (REPO / "docs" / "ebpf-validation.md").read_text(encoding="utf-8")
    section = text.split("\n## Capabilities\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(CAP_\w+)` \| ([^|]+) \| ([^|]+) \|$", section, flags=re.MULTILINE)
    assert [(name, needed.strip(), why.strip()) for name, needed, why in rows] == [
        (c.name, c.needed_for, c.why) for c in REQUIRED_CAPABILITIES
    ]


def test_kubernetes_manifest_adds_exactly_the_capabilities_of_every_probe() -> None:
    manifest = REPO / "deploy" / "kubernetes" / "daemonset.yaml"
    if not manifest.exists():
        pytest.skip("no Kubernetes manifest in this tree")
    added: list[str] = []
    for doc in yaml.safe_load_all(manifest.read_text()):
        if not doc or doc.get("kind") != "DaemonSet":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            added += container["securityContext"]["capabilities"]["add"]
    every = [c.name for c in REQUIRED_CAPABILITIES if c.needed_for == "every probe"]
    assert sorted(f"CAP_{name}" for name in added) == sorted(every)
