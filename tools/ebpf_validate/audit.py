"""Bytecode audit: BTF and licence of each object, and the helpers each program calls.

Helper calls are read from a program's instructions as libbpf submits them
(``call`` with source register 0; 1 is a call to a subprogram, 2 a kfunc),
so subprograms count for the programs that call them. The disassembly of the
object is kept beside the report and must name the same helpers.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

BPF_CALL: Final = 0x85  # BPF_JMP | BPF_CALL
# libbpf writes this call where a CO-RE relocation names what the running
# kernel lacks (a field of another kernel version), in code the program only
# reaches on that other kernel: the verifier rejects it if it is ever reached
CORE_POISON_CALL: Final = 0xBAD2310
_INSN: Final = struct.Struct("<BBhi")

# the kernel's license_is_gpl_compatible()
GPL_COMPATIBLE: Final = frozenset(
    {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}
)

# helpers that reach outside observation: refused unless the allow list says why
RESTRICTED_HELPERS: Final = frozenset(
    {"probe_write_user", "override_return", "send_signal", "send_signal_thread"}
)

_MAPPER_ENTRY: Final = re.compile(r"FN\((\w+)(?:,\s*(\d+))?")
_OBJDUMP_CALL: Final = re.compile(
    r"^\s*\d+:\s+85 ([0-9a-f])[0-9a-f] (?:[0-9a-f]{2}\s){6}\s*call (-?\d+|0x[0-9a-f]+)\s*$"
)


def helper_names(header: str) -> dict[int, str]:
    """Helper id -> name, from ``__BPF_FUNC_MAPPER`` in ``linux/bpf.h``.

    Headers of Linux 6.1 and later number each entry (``FN(name, 1, ##ctx)``);
    older ones number them by position.
    """
    start = header.find("#define __BPF_FUNC_MAPPER(")
    if start < 0:
        msg = "no __BPF_FUNC_MAPPER in the header"
        raise ValueError(msg)
    body: list[str] = []
    for line in header[start:].splitlines()[1:]:
        body.append(line)
        if not line.rstrip().endswith("\\"):
            break
    names: dict[int, str] = {}
    for position, m in enumerate(_MAPPER_ENTRY.finditer("\n".join(body))):
        names[int(m.group(2)) if m.group(2) else position] = m.group(1)
    return names


def helper_calls(insns: bytes) -> set[int]:
    """Ids of the helpers a program's instructions call."""
    ids: set[int] = set()
    for offset in range(0, len(insns) - len(insns) % 8, 8):
        code, regs, _off, imm = _INSN.unpack_from(insns, offset)
        if code == BPF_CALL and regs >> 4 == 0 and imm != CORE_POISON_CALL:
            ids.add(imm)
    return ids


def objdump_helper_calls(disassembly: str) -> set[int]:
    """Ids of the helpers called anywhere in ``llvm-objdump -d`` output."""
    ids: set[int] = set()
    for line in disassembly.splitlines():
        m = _OBJDUMP_CALL.match(line)
        if m and m.group(1) == "0":
            ids.add(int(m.group(2), 0))
    return ids


def license_of(section: bytes) -> str:
    """The licence string of a ``license`` section."""
    return section.split(b"\0", 1)[0].decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Allowance:
    """A restricted helper one program may call, and why."""

    program: str
    helper: str
    reason: str


@dataclass(frozen=True, slots=True)
class AllowList:
    """``helpers.toml``: helpers per program, and restricted ones with reasons."""

    programs: Mapping[str, frozenset[str]]
    restricted: tuple[Allowance, ...] = field(default=())

    @classmethod
    def from_toml(cls, data: Mapping[str, object]) -> AllowList:
        """Read the parsed file: ``[programs]`` ``"obj/prog" = [...]`` and ``[[restricted]]``."""
        raw_programs = data.get("programs", {})
        if not isinstance(raw_programs, dict):
            msg = "[programs] must be a table"
            raise TypeError(msg)
        programs = {str(k): frozenset(str(h) for h in v) for k, v in raw_programs.items()}
        raw_restricted = data.get("restricted", [])
        if not isinstance(raw_restricted, list):
            msg = "[[restricted]] must be an array of tables"
            raise TypeError(msg)
        restricted: list[Allowance] = []
        for entry in raw_restricted:
            if not isinstance(entry, dict) or not str(entry.get("reason", "")).strip():
                msg = f"restricted entry {entry!r} needs program, helper and a reason"
                raise ValueError(msg)
            restricted.append(
                Allowance(str(entry["program"]), str(entry["helper"]), entry["reason"])
            )
        return cls(programs=programs, restricted=tuple(restricted))


def check_helpers(used: Mapping[str, Iterable[str]], allow: AllowList) -> list[str]:
    """Every helper call the allow list does not permit, one line each."""
    problems: list[str] = []
    justified = {(a.program, a.helper) for a in allow.restricted}
    for program, helpers in sorted(used.items()):
        listed = allow.programs.get(program)
        for helper in sorted(set(helpers)):
            if listed is None or helper not in listed:
                problems.append(
                    f"{program} calls helper bpf_{helper}, not on its allow list (helpers.toml)"
                )
            elif helper in RESTRICTED_HELPERS and (program, helper) not in justified:
                problems.append(
                    f"{program} calls restricted helper bpf_{helper} without a [[restricted]] "
                    "entry giving the reason"
                )
    return problems
