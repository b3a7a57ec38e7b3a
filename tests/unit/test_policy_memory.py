# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``memory`` section: watched kinds of access, allowed accessors, enforcement."""

from __future__ import annotations

import re

import pytest

from bee_trace.policy import (
    COMM_MAX_BYTES,
    MemoryPolicy,
    MemoryWatch,
    Policy,
    check_accessor,
    parse_policy,
)
from tests.unit.builders import DEFAULT_POLICY, listed, only_problem, parse, problems

EXPECTED = "expected a comm name or an absolute executable path"
MEMORY_KEYS = "watch, allowed_accessors, enforce"
WATCH_KEYS = "ptrace, process_vm, proc_mem"


def allowed(*entries: str) -> str:
    """A policy whose allowed_accessors holds ``entries``, one per line from line 3."""
    return listed("memory", "allowed_accessors", *entries)


# valid sections


def test_full_section() -> None:
    policy = parse(
        """\
        memory:
          watch:
            ptrace: false
            process_vm: true
            proc_mem: false
          allowed_accessors:
            - gdb
            - /usr/bin/strace
            - lldb-server
          enforce: true
        """,
    )
    assert policy.memory == MemoryPolicy(
        watch=MemoryWatch(ptrace=False, process_vm=True, proc_mem=False),
        allowed_accessors=("gdb", "/usr/bin/strace", "lldb-server"),
        enforce=True,
    )
    assert policy.memory.allowed_comms == ("gdb", "lldb-server")
    assert policy.memory.allowed_executables == ("/usr/bin/strace",)


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "memory:",
        "memory: {}",
        "memory:\n  watch:",
        "memory:\n  watch: {}",
        "memory:\n  allowed_accessors:",
        "memory:\n  allowed_accessors: []",
        "memory:\n  allowed_accessors:\n  # - gdb\n",
        "memory:\n  watch:\n    ptrace: true\n  enforce: false",
    ],
)
def test_missing_or_empty_section_is_the_default(text: str) -> None:
    assert parse(text).memory == MemoryPolicy()


def test_defaults() -> None:
    assert Policy(source="x").memory == MemoryPolicy()
    memory = MemoryPolicy()
    assert memory.watch == MemoryWatch(ptrace=True, process_vm=True, proc_mem=True)
    assert memory.allowed_accessors == ()
    assert memory.allowed_comms == ()
    assert memory.allowed_executables == ()
    assert memory.enforce is False


@pytest.mark.parametrize("kind", ["ptrace", "process_vm", "proc_mem"])
def test_one_kind_off_leaves_the_others_on(kind: str) -> None:
    watch = parse(f"memory:\n  watch:\n    {kind}: false\n").memory.watch
    expected = {"ptrace": True, "process_vm": True, "proc_mem": True, kind: False}
    assert watch == MemoryWatch(**expected)


@pytest.mark.parametrize(
    "comm",
    [
        "gdb",
        "a",
        "x" * COMM_MAX_BYTES,
        "gnome-keyring-d",
        "é" * 7,  # 14 bytes
        "kworker:0 H",
        "..",  # a comm, not a path: a process can call itself that
    ],
)
def test_valid_comm_names(comm: str) -> None:
    assert parse(allowed(f'"{comm}"')).memory.allowed_comms == (comm,)


@pytest.mark.parametrize("path", ["/usr/bin/gdb", "/gdb", "/opt/my tools/dbg", "/usr/bin/.gdb"])
def test_valid_executable_paths(path: str) -> None:
    assert parse(allowed(f'"{path}"')).memory.allowed_executables == (path,)


def test_comm_max_is_the_kernels() -> None:
    assert COMM_MAX_BYTES == 15


# errors: invalid entries


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x" * 16, "16 bytes, over the 15 the kernel keeps: write 'xxxxxxxxxxxxxxx', "),
        (
            "gnome-keyring-daemon",
            (
                "20 bytes, over the 15 the kernel keeps: write 'gnome-keyring-d', "
                "or the executable's absolute path"
            ),
        ),
        (
            "é" * 8,  # 16 bytes; 15 would end inside the eighth character
            (
                "16 bytes, over the 15 the kernel keeps, which end inside a character: "
                "write the executable's absolute path"
            ),
        ),
        ("bin/gdb", "a relative path: write the absolute path, or a comm name without '/'"),
        ("./gdb", "a relative path: write the absolute path, or a comm name without '/'"),
        ("/usr/bin/", "ends with '/': did you mean '/usr/bin'?"),
        ("/usr/./bin/gdb/", "ends with '/': did you mean '/usr/bin/gdb'?"),
        ("/usr//bin/gdb", "has an empty or '.' component: did you mean '/usr/bin/gdb'?"),
        ("//usr/bin/gdb", "has an empty or '.' component: did you mean '/usr/bin/gdb'?"),
        ("/usr/./bin/gdb", "has an empty or '.' component: did you mean '/usr/bin/gdb'?"),
        ("/usr/bin/../bin/gdb", "has a '..' component: write the path without it"),
        ("/..", "has a '..' component: write the path without it"),
        ("/", "names the root directory, not an executable"),
        ("//.", "names the root directory, not an executable"),
        ("gd\0b", "contains a NUL character"),
        ("", "empty string"),
    ],
)
def test_check_accessor_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        check_accessor(raw)


def test_comm_length_15_ok_16_error() -> None:
    assert parse(allowed("a" * 15)).memory.allowed_comms == ("a" * 15,)
    assert only_problem(allowed("gdb", "a" * 16)) == (
        f"p.yml:4: memory.allowed_accessors[1]: {EXPECTED}, found {'a' * 16!r} "
        f"(16 bytes, over the 15 the kernel keeps: write {'a' * 15!r}, "
        "or the executable's absolute path)"
    )


def test_comm_length_counts_bytes_not_characters() -> None:
    assert parse(allowed("ééééééé")).memory.allowed_comms == ("ééééééé",)
    problem = only_problem(allowed("éééééééé"))
    assert problem.startswith(
        f"p.yml:3: memory.allowed_accessors[0]: {EXPECTED}, found 'éééééééé' (16 bytes"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("bin/gdb", "a relative path: write the absolute path, or a comm name without '/'"),
        ("/usr/bin/", "ends with '/': did you mean '/usr/bin'?"),
        ("/usr//bin/gdb", "has an empty or '.' component: did you mean '/usr/bin/gdb'?"),
        ("/usr/bin/../gdb", "has a '..' component: write the path without it"),
        ("/", "names the root directory, not an executable"),
    ],
)
def test_invalid_entry_names_line_index_and_reason(raw: str, reason: str) -> None:
    assert only_problem(allowed("gdb", raw)) == (
        f"p.yml:4: memory.allowed_accessors[1]: {EXPECTED}, found {raw!r} ({reason})"
    )


@pytest.mark.parametrize(
    ("item", "found"),
    [
        ('""', "an empty string"),
        ("", "no value"),
        ("7", "the integer 7"),
        ("false", "the boolean false"),
        ("[gdb]", "a list"),
        ("{a: b}", "a mapping"),
    ],
)
def test_entry_must_be_a_non_empty_string(item: str, found: str) -> None:
    assert only_problem(allowed("gdb", item)) == (
        f"p.yml:4: memory.allowed_accessors[1]: expected a non-empty string, found {found}"
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [("gdb", "the string 'gdb'"), ("{gdb: 1}", "a mapping"), ("1", "the integer 1")],
)
def test_allowed_accessors_must_be_a_list(value: str, found: str) -> None:
    assert only_problem(f"memory:\n  allowed_accessors: {value}\n") == (
        f"p.yml:2: memory.allowed_accessors: expected a list of comm names or paths, found {found}"
    )


def test_duplicate_accessor_names_the_first_line() -> None:
    assert only_problem(allowed("gdb", "/usr/bin/gdb", "gdb")) == (
        "p.yml:5: memory.allowed_accessors[2]: expected each accessor once (first on line 3), "
        "found 'gdb' again"
    )


def test_comm_and_path_of_the_same_program_are_different_entries() -> None:
    memory = parse(allowed("gdb", "/usr/bin/gdb")).memory
    assert memory.allowed_accessors == ("gdb", "/usr/bin/gdb")


@pytest.mark.parametrize(
    ("key", "line"),
    [("memory.watch.ptrace", 3), ("memory.watch.process_vm", 4), ("memory.watch.proc_mem", 5)],
)
@pytest.mark.parametrize(
    ("value", "found"),
    [("", "no value"), ("0", "the integer 0"), ("'no'", "the string 'no'"), ("[]", "a list")],
)
def test_watch_kinds_must_be_bools(key: str, line: int, value: str, found: str) -> None:
    values = {"memory.watch.ptrace": "true", "memory.watch.process_vm": "true"}
    values |= {"memory.watch.proc_mem": "true", key: value}
    text = (
        "memory:\n  watch:\n"
        f"    ptrace: {values['memory.watch.ptrace']}\n"
        f"    process_vm: {values['memory.watch.process_vm']}\n"
        f"    proc_mem: {values['memory.watch.proc_mem']}\n"
    )
    assert only_problem(text) == f"p.yml:{line}: {key}: expected true or false, found {found}"


def test_enforce_must_be_a_bool() -> None:
    assert only_problem("memory:\n  enforce: kill\n") == (
        "p.yml:2: memory.enforce: expected true or false, found the string 'kill'"
    )


def test_unknown_keys() -> None:
    text = """\
        memory:
          watch:
            ptrace: true
            procmem: true
          allowed: [gdb]
        """
    assert problems(text) == [
        (
            f"p.yml:4: memory.watch.procmem: expected one of the keys {WATCH_KEYS}, "
            "found unknown key 'procmem' (did you mean 'proc_mem'?)"
        ),
        (
            f"p.yml:5: memory.allowed: expected one of the keys {MEMORY_KEYS}, "
            "found unknown key 'allowed'"
        ),
    ]


@pytest.mark.parametrize(
    ("text", "path", "keys", "found"),
    [
        ("memory: true\n", "memory", MEMORY_KEYS, "the boolean true"),
        ("memory:\n  watch: true\n", "memory.watch", WATCH_KEYS, "the boolean true"),
        ("memory:\n  watch: [ptrace]\n", "memory.watch", WATCH_KEYS, "a list"),
    ],
)
def test_sections_must_be_mappings(text: str, path: str, keys: str, found: str) -> None:
    line = text.count("\n")
    assert only_problem(text) == (
        f"p.yml:{line}: {path}: expected a mapping with the keys {keys}, found {found}"
    )


def test_all_memory_problems_in_line_order() -> None:
    text = """\
        memory:
          watch:
            ptrace: 1
          allowed_accessors:
            - gdb
            - usr/bin/gdb
            - 0123456789abcdef
            - gdb
          enforce:
        """
    assert problems(text) == [
        "p.yml:3: memory.watch.ptrace: expected true or false, found the integer 1",
        (
            f"p.yml:6: memory.allowed_accessors[1]: {EXPECTED}, found 'usr/bin/gdb' "
            "(a relative path: write the absolute path, or a comm name without '/')"
        ),
        (
            f"p.yml:7: memory.allowed_accessors[2]: {EXPECTED}, found '0123456789abcdef' "
            "(16 bytes, over the 15 the kernel keeps: write '0123456789abcde', "
            "or the executable's absolute path)"
        ),
        (
            "p.yml:8: memory.allowed_accessors[3]: expected each accessor once "
            "(first on line 5), found 'gdb' again"
        ),
        "p.yml:9: memory.enforce: expected true or false, found no value",
    ]


# the record


def test_memory_policy_checks_its_accessors() -> None:
    with pytest.raises(ValueError, match=r"^allowed accessor 'bin/gdb': a relative path"):
        MemoryPolicy(allowed_accessors=("gdb", "bin/gdb"))


def test_allowed_comms_and_executables_keep_order() -> None:
    memory = MemoryPolicy(allowed_accessors=("/b", "a", "/a", "b"))
    assert memory.allowed_comms == ("a", "b")
    assert memory.allowed_executables == ("/b", "/a")


# the default policy


def default_text() -> str:
    return DEFAULT_POLICY.read_text(encoding="utf-8")


def test_default_policy_watches_everything_allows_nothing_enforces_nothing() -> None:
    policy = parse_policy(default_text(), "security.yml")
    assert policy.memory == MemoryPolicy(
        watch=MemoryWatch(ptrace=True, process_vm=True, proc_mem=True),
        allowed_accessors=(),
        enforce=False,
    )


def test_default_policy_examples_parse_when_uncommented() -> None:
    section = default_text().split("\nmemory:\n", 1)[1]
    examples = re.findall(r"^  #     - (\S+)", section, flags=re.MULTILINE)
    assert examples == ["gdb", "/usr/bin/gdb", "strace"]
    assert parse(allowed(*examples)).memory.allowed_accessors == tuple(examples)
