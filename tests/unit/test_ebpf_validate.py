"""The eBPF validation suite's pure logic: parsing, checks, reports."""

from __future__ import annotations

import dataclasses
import json
import struct
import tomllib
from pathlib import Path

import pytest
from tools.ebpf_validate import audit, elf, limits, privileges, verifier
from tools.ebpf_validate.report import Part, table, write

from bee_trace.host.checks import REQUIRED_CAPABILITIES
from bee_trace.policy import Policy
from bee_trace.policy.model import LimitsPolicy
from bee_trace.probes.base import object_path

TOOL = Path(__file__).parents[2] / "tools" / "ebpf_validate"


def insn(code: int, src: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, src << 4, 0, imm)


# ELF


def test_sections_of_a_built_object() -> None:
    path = object_path("memory_monitor.bpf.o")
    if not path.exists():
        pytest.skip("the package is not built")
    secs = elf.sections(path.read_bytes())
    assert ".BTF" in secs
    assert audit.license_of(secs["license"]) == "Dual BSD/GPL"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not an elf", "not an ELF file"),
        (b"\x7fELF" + b"\x01\x01" + bytes(58), "not a 64-bit little-endian BPF object"),
    ],
)
def test_sections_refuses_what_is_not_a_bpf_object(data: bytes, message: str) -> None:
    with pytest.raises(elf.ElfError, match=message):
        elf.sections(data)


def test_sections_refuses_a_header_table_out_of_bounds() -> None:
    ident = b"\x7fELF\x02\x01" + bytes(10)
    header = struct.pack(
        "<16sHHIQQQIHHHHHH", ident, 1, elf.EM_BPF, 1, 0, 0, 4096, 0, 64, 0, 0, 64, 3, 2
    )
    with pytest.raises(elf.ElfError, match="out of bounds"):
        elf.sections(header)


# helpers


NEW_HEADER = """
#define __BPF_FUNC_MAPPER(FN, ctx...)			\\
	FN(unspec, 0, ##ctx)				\\
	FN(map_lookup_elem, 1, ##ctx)			\\
	FN(send_signal, 109, ##ctx)			\\
	/* */
#define other
"""
OLD_HEADER = """
#define __BPF_FUNC_MAPPER(FN)		\\
	FN(unspec),			\\
	FN(map_lookup_elem),		\\
	FN(map_update_elem),

enum bpf_func_id {
"""


def test_helper_names_numbered_entries() -> None:
    assert audit.helper_names(NEW_HEADER) == {0: "unspec", 1: "map_lookup_elem", 109: "send_signal"}


def test_helper_names_by_position() -> None:
    assert audit.helper_names(OLD_HEADER) == {
        0: "unspec",
        1: "map_lookup_elem",
        2: "map_update_elem",
    }


def test_helper_names_needs_the_mapper() -> None:
    with pytest.raises(ValueError, match="__BPF_FUNC_MAPPER"):
        audit.helper_names("enum x {};")


def test_helper_names_of_the_system_header() -> None:
    header = Path("/usr/include/linux/bpf.h")
    if not header.exists():
        pytest.skip("no linux/bpf.h")
    names = audit.helper_names(header.read_text())
    assert names[1] == "map_lookup_elem"
    assert names[109] == "send_signal"


def test_helper_calls_skip_subprogram_and_kfunc_calls() -> None:
    code = (
        insn(0x85, 0, 14)  # helper 14
        + insn(0x85, 1, -1)  # bpf-to-bpf call
        + insn(0x85, 2, 1234)  # kfunc
        + insn(0x18, 0, 5)  # ldimm64, first half
        + insn(0x00, 0, 0)
        + insn(0x95)  # exit
        + b"\x85"  # a trailing partial instruction is ignored
    )
    assert audit.helper_calls(code) == {14}


def test_objdump_helper_calls() -> None:
    text = """
Disassembly of section tracepoint/syscalls/sys_enter_ptrace:

0000000000000000 <enter_ptrace>:
      21:	85 00 00 00 23 00 00 00	call 35
      22:	85 10 00 00 ff ff ff ff	call -1
      29:	85 00 00 00 71 00 00 00	call 113
      30:	95 00 00 00 00 00 00 00	exit
"""
    assert audit.objdump_helper_calls(text) == {35, 113}


ALLOW = audit.AllowList.from_toml(
    tomllib.loads(
        """
[programs]
"m/a" = ["map_lookup_elem", "send_signal"]
"m/b" = ["send_signal"]

[[restricted]]
program = "m/a"
helper = "send_signal"
reason = "enforcement"
"""
    )
)


def test_listed_helpers_pass() -> None:
    assert audit.check_helpers({"m/a": ["map_lookup_elem", "send_signal"]}, ALLOW) == []


def test_a_new_helper_is_named_with_its_program() -> None:
    problems = audit.check_helpers({"m/a": ["ringbuf_output"], "m/c": ["map_lookup_elem"]}, ALLOW)
    assert problems == [
        "m/a calls helper bpf_ringbuf_output, not on its allow list (helpers.toml)",
        "m/c calls helper bpf_map_lookup_elem, not on its allow list (helpers.toml)",
    ]


def test_a_restricted_helper_needs_a_reason() -> None:
    problems = audit.check_helpers({"m/b": ["send_signal"]}, ALLOW)
    assert problems == [
        (
            "m/b calls restricted helper bpf_send_signal without a [[restricted]] entry giving "
            "the reason"
        )
    ]


@pytest.mark.parametrize(
    "text",
    [
        "programs = 1\n",
        "restricted = 1\n",
        '[[restricted]]\nprogram = "m/a"\nhelper = "send_signal"\nreason = " "\n',
    ],
)
def test_malformed_allow_list(text: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        audit.AllowList.from_toml(tomllib.loads(text))


def test_committed_allow_list_justifies_every_restricted_helper() -> None:
    allow = audit.AllowList.from_toml(tomllib.loads((TOOL / "helpers.toml").read_text()))
    for program, helpers in allow.programs.items():
        assert audit.check_helpers({program: helpers}, allow) == []
    assert {a.helper for a in allow.restricted} == {"send_signal"}
    assert all(
        a.program.split("/")[0] in {"memory_monitor", "memory_monitor.perfbuf"}
        for a in allow.restricted
    )


# verifier


LOG = """verification time 278 usec
stack depth 88+16
processed 389 insns (limit 1000000) max_states_per_insn 1 total_states 25 peak_states 25
"""


def test_parse_log() -> None:
    assert verifier.parse_log(LOG) == verifier.LogStats(processed_insns=389, stack_bytes=104)


def test_parse_log_without_stack_line() -> None:
    assert verifier.parse_log("processed 6 insns (limit 1000000)").stack_bytes is None


def test_parse_log_without_the_count_fails() -> None:
    with pytest.raises(ValueError, match="processed N insns"):
        verifier.parse_log("verification time 3 usec\n")


def report(program: str, processed: int, stack: int | None = 64) -> verifier.ProgramReport:
    return verifier.ProgramReport(
        probe="file_monitor",
        variant="monitor",
        transport="ringbuf",
        program=program,
        section="tracepoint/x",
        processed_insns=processed,
        verified_insns=processed,
        stack_bytes=stack,
        xlated_bytes=8,
        jited_bytes=8,
        helper_ids=(),
    )


def test_budgets_pass_within() -> None:
    assert verifier.check_budgets([report("a", 100)], {"file_monitor/a": 100}) == []


def test_budget_exceeded_names_program_and_figure() -> None:
    problems = verifier.check_budgets(
        [report("a", 90), report("a", 2500)], {"file_monitor/a": 2000}
    )
    assert problems == [
        (
            "file_monitor/a (monitor): verifier processed 2500 insns, over its budget of 2000 "
            "(0.2% of the limit)"
        )
    ]


def test_program_without_budget_and_stack_over_the_limit() -> None:
    problems = verifier.check_budgets([report("b", 5, stack=520)], {})
    assert problems == [
        "file_monitor/b (monitor): stack depth 520 > 512",
        "file_monitor/b: no budget in budgets.toml (processed 5 insns): add one",
    ]


def test_committed_budgets_are_fractions_of_the_limit() -> None:
    budgets = verifier.read_budgets(tomllib.loads((TOOL / "budgets.toml").read_text()))
    assert budgets
    assert all(1000 <= b <= verifier.VERIFIER_LIMIT // 2 for b in budgets.values())


def test_budgets_file_needs_its_table() -> None:
    with pytest.raises(TypeError, match="processed_insns"):
        verifier.read_budgets({})


def test_variants_cover_every_probe_enforcement_and_transport() -> None:
    configs = {
        ("file_monitor", False),
        ("network_monitor", False),
        ("network_monitor", True),
        ("memory_monitor", False),
        ("memory_monitor", True),
    }
    assert {(v.probe, v.enforce, v.transport) for v in verifier.VARIANTS} == {
        (probe, enforce, transport)
        for probe, enforce in configs
        for transport in ("ringbuf", "perfbuf")
    }
    perf = [v for v in verifier.VARIANTS if v.transport == "perfbuf"]
    assert {v.object_name("file_monitor.bpf.o") for v in perf} == {"file_monitor.perfbuf.bpf.o"}


# privileges


def test_available_keeps_what_this_process_holds() -> None:
    candidates = {"CAP_A": 1, "CAP_B": 2}
    assert privileges.available(candidates, 0b100) == ["CAP_B"]


def test_setpriv_prefix() -> None:
    prefix = privileges.setpriv_prefix(["CAP_BPF", "CAP_PERFMON"])
    assert prefix[1:] == [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all,+bpf,+perfmon",
        "--ambient-caps=-all,+bpf,+perfmon",
    ]


def test_expected_sets_come_from_required_capabilities() -> None:
    every = [c.name for c in REQUIRED_CAPABILITIES if c.needed_for == "every probe"]
    by_name = {s.name: privileges.expected_set(s) for s in privileges.SCENARIOS}
    assert by_name["file_monitor"] == every
    assert by_name["network_monitor --enforce"] == [*every, "CAP_NET_ADMIN"]


def attempt(caps: tuple[str, ...], code: int, message: str = "") -> privileges.Attempt:
    return privileges.Attempt(
        "s", caps, code, ready=code == 0, events=int(code == 0), message=message
    )


def test_check_accepts_a_clean_measurement() -> None:
    result = privileges.ScenarioResult(
        "s",
        ["CAP_BPF"],
        ["CAP_BPF"],
        [attempt(("CAP_BPF",), 0)],
        {"CAP_BPF": attempt((), 3, "error: capability CAP_BPF")},
    )
    assert privileges.check([result], attempt((), 3)) == []


def test_check_names_every_disagreement() -> None:
    broken = privileges.ScenarioResult(
        "s",
        ["CAP_BPF", "CAP_KILL"],
        ["CAP_BPF"],
        [attempt(("CAP_BPF", "CAP_KILL"), 1)],
        {"CAP_KILL": attempt(("CAP_BPF",), 4, "error: EPERM")},
    )
    never = privileges.ScenarioResult("t", [], ["CAP_BPF"], [attempt(("CAP_BPF",), 4)])
    problems = privileges.check([broken, never], attempt((), 0))
    assert problems == [
        "s: minimal set measured is CAP_BPF, CAP_KILL; REQUIRED_CAPABILITIES says CAP_BPF",
        "s: the minimal set did not work a second time",
        "s: without CAP_KILL, bee-trace exited 4 instead of 3 naming CAP_KILL: error: EPERM",
        "t: does not work even with CAP_BPF",
        "unprivileged run exited 0, not 3",
    ]


# limits


def usage(**changes: float) -> limits.Usage:
    base = {
        "kernel_memory_bytes": 40 << 20,
        "ring_buffer_bytes": 12 << 20,
        "other_maps_bytes": 28 << 20,
        "maps": 25,
        "user_memory_bytes": 50 << 20,
        "cpu_percent": 12.5,
        "flood_opens": 100,
        "flood_rate_per_s": 5000.0,
        "flood_seconds": 5.0,
        "events": 100,
        "dropped": 0,
    }
    base.update(changes)
    return limits.Usage(**base)  # type: ignore[arg-type]


def test_limits_within() -> None:
    assert limits.check(usage(), Policy(source="p")) == []


def test_limits_exceeded_name_the_key() -> None:
    policy = Policy(source="p", limits=LimitsPolicy(cpu_percent=10.0, user_memory_bytes=1 << 20))
    problems = limits.check(usage(other_maps_bytes=40 << 20, events=0), policy)
    assert problems == [
        "limits.user_memory_bytes: measured 52428800, over the limit of 1048576",
        "limits.cpu_percent: measured 12, over the limit of 10",
        "OTHER_MAPS_MAX_BYTES (policy/loader.py): measured 41943040, over the limit of 33554432",
        "the flood produced no events: the measurement measured nothing",
    ]


# reports


def test_table() -> None:
    assert table(("a", "b"), [(1, 2)]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_write_reports_and_summary(tmp_path: Path) -> None:
    (tmp_path / "kernel-matrix.md").write_text("# matrix\n")
    parts = [
        Part("verifier", "Verifier", {"x": 1}, ["body"], note="fine"),
        Part("limits", "Limits", {}, [], problems=["too much"]),
    ]
    summary = write(tmp_path, parts, "6.18")
    assert summary == [
        "eBPF validation on Linux 6.18",
        "  pass  verifier: fine",
        "  FAIL  limits: Limits",
        "        - too much",
    ]
    data = json.loads((tmp_path / "limits.json").read_text())
    assert data == {"kernel": "6.18", "problems": ["too much"], "data": {}}
    assert "- too much" in (tmp_path / "limits.md").read_text()
    index = (tmp_path / "summary.md").read_text()
    assert "[Verifier](verifier.md)" in index
    assert "[kernel-matrix.md](kernel-matrix.md)" in index


def test_perfbuf_programs_have_budgets_of_their_own() -> None:
    perf = dataclasses.replace(report("a", 500), transport="perfbuf")
    assert perf.key == "file_monitor.perfbuf/a"
    assert verifier.check_budgets([perf], {"file_monitor/a": 1000}) == [
        "file_monitor.perfbuf/a: no budget in budgets.toml (processed 500 insns): add one"
    ]
    m = verifier.MapReport("file_monitor", "monitor", "perfbuf", "events", 4, 2, 328)
    assert m.object == "file_monitor.perfbuf"
