"""``python -m tools.ebpf_validate``: run the suite, write reports/ebpf/, fail on any problem."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Final

from bee_trace.host.checks import effective_caps
from bee_trace.policy import Policy, load_policy
from bee_trace.probes import PROBES
from bee_trace.probes.base import object_path
from bee_trace.runtime import perfbuf_object
from tools.ebpf_validate import audit, limits, privileges, verifier
from tools.ebpf_validate.elf import sections
from tools.ebpf_validate.report import Part, table, write

HERE: Final = Path(__file__).parent
BPF_HEADER: Final = Path("/usr/include/linux/bpf.h")
PARTS: Final = ("verifier", "audit", "privileges", "limits")


def _verifier_part(programs: list[verifier.ProgramReport], maps: list[verifier.MapReport]) -> Part:
    budgets = verifier.read_budgets(tomllib.loads((HERE / "budgets.toml").read_text()))
    rows = [
        (
            p.object, p.variant, p.program, p.processed_insns, p.verified_insns,
            "-" if p.stack_bytes is None else p.stack_bytes, p.xlated_bytes, p.jited_bytes,
            budgets.get(p.key, "none"),
            f"{budgets[p.key] / verifier.VERIFIER_LIMIT:.1%}" if p.key in budgets else "-",
        )
        for p in programs
    ]  # fmt: skip
    header = (
        "object", "variant", "program", "processed insns", "verified_insns", "stack bytes",
        "xlated bytes", "jited bytes", "budget", "budget / limit",
    )  # fmt: skip
    map_rows = [
        (m.object, m.variant, m.name, m.map_type, m.max_entries, m.memlock_bytes) for m in maps
    ]
    md = [
        "## Programs",
        "",
        *table(header, rows),
        "",
        "## Maps",
        "",
        "LPM tries (type 11) allocate per entry and show 0 until filled.",
        "",
        *table(("object", "variant", "map", "type", "max entries", "memlock bytes"), map_rows),
    ]
    worst = max(programs, key=lambda p: p.processed_insns)
    return Part(
        "verifier",
        "Verifier report and budgets",
        {
            "limit": verifier.VERIFIER_LIMIT,
            "budgets": budgets,
            "programs": [dataclasses.asdict(p) for p in programs],
            "maps": [dataclasses.asdict(m) for m in maps],
        },
        md,
        verifier.check_budgets(programs, budgets),
        note=(
            f"{len(programs)} programs in {len({(p.object, p.variant) for p in programs})} "
            f"variants loaded; most verifier work: {worst.key} "
            f"{worst.processed_insns} insns ({worst.processed_insns / verifier.VERIFIER_LIMIT:.1%})"
        ),
    )


def _audit_part(programs: list[verifier.ProgramReport], directory: Path) -> Part:
    names = audit.helper_names(BPF_HEADER.read_text())
    allow = audit.AllowList.from_toml(tomllib.loads((HERE / "helpers.toml").read_text()))
    used: dict[str, set[str]] = defaultdict(set)
    by_object: dict[str, set[int]] = defaultdict(set)
    for p in programs:
        used[p.key].update(names.get(i, f"unknown_{i}") for i in p.helper_ids)
        by_object[p.object].update(p.helper_ids)
    problems = audit.check_helpers(used, allow)
    objdump = shutil.which("llvm-objdump") or "llvm-objdump"
    (directory / "objdump").mkdir(parents=True, exist_ok=True)
    objects: list[dict[str, object]] = []
    builds = {
        obj_name: key
        for name, cls in PROBES.items()
        for obj_name, key in (
            (cls.object_name, name),
            (perfbuf_object(cls.object_name), f"{name}.perfbuf"),
        )
    }
    for obj_name, probe_name in sorted(builds.items()):
        path = object_path(obj_name)
        secs = sections(path.read_bytes())
        text = subprocess.run(  # noqa: S603 - llvm-objdump on our own object
            [objdump, "-d", str(path)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        (directory / "objdump" / f"{obj_name}.txt").write_text(text)
        licence = audit.license_of(secs.get("license", b""))
        in_dump = audit.objdump_helper_calls(text)
        entry = {
            "object": obj_name,
            "btf": ".BTF" in secs,
            "btf_ext": ".BTF.ext" in secs,
            "license": licence,
            "helpers": sorted(names.get(i, str(i)) for i in in_dump),
        }
        objects.append(entry)
        if ".BTF" not in secs:
            problems.append(f"{obj_name}: no .BTF section (CO-RE needs it)")
        if licence not in audit.GPL_COMPATIBLE:
            problems.append(f"{obj_name}: licence {licence!r} is not GPL-compatible")
        if in_dump != by_object[probe_name]:
            problems.append(
                f"{obj_name}: the disassembly calls helpers {sorted(in_dump)}, the loaded "
                f"programs {sorted(by_object[probe_name])}"
            )
    restricted = {(a.program, a.helper): a.reason for a in allow.restricted}
    rows = [
        (key, ", ".join(sorted(h)), "; ".join(
            f"{h2}: {restricted[key, h2]}" for h2 in sorted(h) if (key, h2) in restricted
        ) or "-")
        for key, h in sorted(used.items())
    ]  # fmt: skip
    md = [
        "## Objects",
        "",
        *table(
            ("object", ".BTF", ".BTF.ext", "license", "disassembly"),
            [
                (o["object"], o["btf"], o["btf_ext"], o["license"], f"objdump/{o['object']}.txt")
                for o in objects
            ],
        ),
        "",
        "## Helpers per program (every variant)",
        "",
        *table(("program", "helpers", "restricted, and why allowed"), rows),
    ]
    return Part(
        "audit",
        "Bytecode audit",
        {"objects": objects, "helpers": {k: sorted(v) for k, v in used.items()}},
        md,
        problems,
        note=f"{len(objects)} objects, {len(used)} programs checked against helpers.toml",
    )


def _privileges_part(scratch: Path) -> Part:
    permitted = effective_caps(Path("/proc/self/status"))
    results, unprivileged = privileges.measure(scratch, permitted)
    missing = [c for c in privileges.CANDIDATES if c not in privileges.available(
        privileges.CANDIDATES, permitted)]  # fmt: skip
    problems = privileges.check(results, unprivileged)
    rows = []
    for r in results:
        for cap in r.minimal:
            a = r.without_one[cap]
            rows.append((r.scenario, cap, f"exit {a.returncode}", a.message or "-"))
    tried = ", ".join(c for c in privileges.CANDIDATES if c not in missing)
    md = [
        "bee-trace runs as uid 65534 with only the listed capabilities (ambient).",
        (
            f"Started from {tried}; not tried, absent from this environment: "
            f"{', '.join(missing) or 'none'}."
        ),
        "",
        "## Minimal sets",
        "",
        *table(
            ("scenario", "minimal set (measured)", "works: ready, event reported, exit 0"),
            [(r.scenario, ", ".join(r.minimal) or "-", r.attempts[-1].works) for r in results],
        ),
        "",
        "## Without one of them",
        "",
        *table(("scenario", "dropped", "result", "message"), rows),
        "",
        "## Without any",
        "",
        f"exit {unprivileged.returncode}: {unprivileged.message}",
    ]
    data = {
        "results": [dataclasses.asdict(r) for r in results],
        "unprivileged": dataclasses.asdict(unprivileged),
    }
    sets = {", ".join(r.minimal) for r in results}
    return Part(
        "privileges", "Least privilege", data, md, problems,
        note=f"minimal sets: {' / '.join(sorted(sets))}",
    )  # fmt: skip


def _limits_part(policy: Policy, policy_path: Path | None) -> Part:
    usage = limits.measure(policy_path)
    lim = policy.limits
    rows = [
        ("locked kernel memory (all maps)", usage.kernel_memory_bytes, lim.kernel_memory_bytes),
        ("  of which ring buffers", usage.ring_buffer_bytes, f"3 x {lim.ring_buffer_bytes}"),
        ("  other maps", usage.other_maps_bytes, "OTHER_MAPS_MAX_BYTES"),
        ("peak RSS (VmHWM)", usage.user_memory_bytes, lim.user_memory_bytes),
        ("CPU during the flood, % of one CPU", f"{usage.cpu_percent:.1f}", lim.cpu_percent),
    ]
    md = [
        (
            f"Flood: {usage.flood_opens} opens of a watched file at {usage.flood_rate_per_s:.0f}/s "
            f"for {usage.flood_seconds:.0f} s; bee-trace reported {usage.events} events, "
            f"dropped {usage.dropped}."
        ),
        "",
        *table(("measure", "measured", "limit"), rows),
    ]
    return Part(
        "limits", "Resource limits", dataclasses.asdict(usage), md,
        limits.check(usage, policy),
        note=(
            f"kernel {usage.kernel_memory_bytes / 2**20:.1f} MiB, RSS "
            f"{usage.user_memory_bytes / 2**20:.1f} MiB, CPU {usage.cpu_percent:.1f}%"
        ),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the parts asked for; 0 when all pass."""
    parser = argparse.ArgumentParser(prog="ebpf-validate", description=__doc__)
    parser.add_argument("--reports", type=Path, default=Path("reports/ebpf"))
    parser.add_argument("--policy", type=Path, help="policy whose limits apply (default: embedded)")
    parser.add_argument("--skip", action="append", choices=PARTS, default=[])
    args = parser.parse_args(argv)
    policy = load_policy(args.policy)
    parts: list[Part] = []
    programs, maps = verifier.load_all()
    if "verifier" not in args.skip:
        parts.append(_verifier_part(programs, maps))
    if "audit" not in args.skip:
        parts.append(_audit_part(programs, args.reports))
    if "privileges" not in args.skip:
        with tempfile.TemporaryDirectory(prefix="bee-trace-caps-") as scratch:
            Path(scratch).chmod(0o755)
            parts.append(_privileges_part(Path(scratch)))
    if "limits" not in args.skip:
        parts.append(_limits_part(policy, args.policy))
    summary = write(args.reports, parts, platform.release())
    sys.stdout.write("\n".join(summary) + "\n")
    return 1 if any(p.problems for p in parts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
