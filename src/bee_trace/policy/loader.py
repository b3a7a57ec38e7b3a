# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""Reading a policy file and checking it against :data:`SCHEMA`.

The YAML is composed into nodes, not loaded into Python objects, so that every
problem can name its line. All problems are collected and raised together as
one :class:`PolicyError`, one line each::

    policy.yml:4: files.watch_read[2]: pattern must be an absolute path or a bare
    file name, found 'foo/bar'
"""

from __future__ import annotations

import difflib
import logging
import re
import resource
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, TypeVar, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bee_trace.errors import UsageError
from bee_trace.policy.accessors import check_accessor
from bee_trace.policy.model import (
    MIB,
    BlockedNetwork,
    FilePolicy,
    LimitsPolicy,
    MemoryPolicy,
    MemoryWatch,
    NetworkPolicy,
    Policy,
    WatchPattern,
)
from bee_trace.policy.networks import IPNetwork, show_network
from bee_trace.policy.patterns import InvalidPatternError, kernel_filter_keys

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

logger = logging.getLogger(__name__)

EMBEDDED_SOURCE: Final = "<embedded>/security.yml"
"""How messages name the default policy shipped inside the package."""

_TAG_PREFIX: Final = "tag:yaml.org,2002:"
_TOP_LEVEL: Final = "(top level)"
_SIMPLE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
_FOUND_MAX_CHARS: Final = 80

_NUMBER_TAGS: Final = frozenset({_TAG_PREFIX + "int", _TAG_PREFIX + "float"})

_T = TypeVar("_T")


class PolicyError(UsageError):
    """A policy that cannot be read or is not valid; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        """Keep every problem so each gets its own line."""
        super().__init__("\n".join(problems))
        self.problems = list(problems)

    def lines(self) -> list[str]:
        """One line per problem, each naming file and line."""
        return list(self.problems)


class _Problems:
    """The problems found so far in one policy, each already formatted."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._found: list[tuple[int, str]] = []

    def add(self, node: Node, path: str, expected: str, found: str) -> None:
        """Record that the value at ``node`` (key path ``path``) is not what was expected."""
        line = node.start_mark.line + 1
        self._found.append(
            (line, f"{self.source}:{line}: {path or _TOP_LEVEL}: {expected}, found {found}")
        )

    def lines(self) -> list[str]:
        """Every problem, in the order of the lines they name."""
        return [text for _, text in sorted(self._found, key=lambda item: item[0])]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key of the policy file: its type and meaning as documented, and its check.

    ``check`` turns the key's node into its validated value, recording problems
    as it goes; ``None`` marks a section, a mapping whose keys are listed in
    :data:`SCHEMA` under the section's path.
    """

    type: str
    description: str
    check: Callable[[Node, str, _Problems], object] | None = None


def _shorten(text: str) -> str:
    """Quote ``text`` on one line, cut to a readable length."""
    if len(text) > _FOUND_MAX_CHARS:
        return repr(text[:_FOUND_MAX_CHARS]) + "..."
    return repr(text)


def _describe(node: Node) -> str:
    """Say what a node is, for the 'found' half of a problem."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    plain = value if len(value) <= _FOUND_MAX_CHARS and value.isprintable() else _shorten(value)
    descriptions = {
        "str": f"the string {_shorten(value)}" if value else "an empty string",
        "int": f"the integer {plain}",
        "float": f"the number {plain}",
        "bool": f"the boolean {plain}",
        "null": "no value",
    }
    short_tag = node.tag.removeprefix(_TAG_PREFIX)
    return descriptions.get(short_tag, f"a value tagged {node.tag!r} ({_shorten(value)})")


def _is_null(node: Node) -> bool:
    """Return whether ``node`` is YAML null (``~``, ``null`` or nothing at all)."""
    return isinstance(node, ScalarNode) and node.tag == _TAG_PREFIX + "null"


def _join(path: str, name: str) -> str:
    """Extend a key path by one key, quoting names that would not read as a key."""
    segment = name if _SIMPLE_KEY.fullmatch(name) else repr(name)
    return f"{path}.{segment}" if path else segment


def _check_version(node: Node, path: str, problems: _Problems) -> int | None:
    """Accept only schema version 1."""
    if (
        isinstance(node, ScalarNode)
        and node.tag == _TAG_PREFIX + "int"
        and SafeConstructor().construct_yaml_int(node) == 1
    ):
        return 1
    problems.add(node, path, "expected the integer 1, the only schema version", _describe(node))
    return None


def _check_bool(node: Node, path: str, problems: _Problems) -> bool | None:
    """Accept a YAML boolean (``true``/``false``); no value is an error, not a default."""
    if isinstance(node, ScalarNode) and node.tag == _TAG_PREFIX + "bool":
        return bool(SafeConstructor().construct_yaml_bool(node))
    problems.add(node, path, "expected true or false", _describe(node))
    return None


def _string_items(
    node: Node,
    path: str,
    problems: _Problems,
    what: str,
    colon_hint: str = "",
) -> list[tuple[str, Node, str]]:
    """Return each non-empty string of a list with its node and key path.

    No value is an empty list. Every item that is not a non-empty string is
    recorded as a problem and left out; ``colon_hint`` is added to the problem
    when YAML read an item with ``:`` as a number (YAML 1.1 base 60, ``1:30``).
    """
    if _is_null(node):
        return []
    if not isinstance(node, SequenceNode):
        problems.add(node, path, f"expected a list of {what}", _describe(node))
        return []
    items: list[tuple[str, Node, str]] = []
    for index, item in enumerate(cast("list[Node]", node.value)):
        item_path = f"{path}[{index}]"
        if not isinstance(item, ScalarNode) or item.tag != _TAG_PREFIX + "str" or not item.value:
            expected = "expected a non-empty string"
            if colon_hint and item.tag in _NUMBER_TAGS and ":" in str(item.value):
                expected += f" ({colon_hint})"
            problems.add(item, item_path, expected, _describe(item))
            continue
        items.append((str(item.value), item, item_path))
    return items


# sizes of the kernel maps the policy fills (see kernel/*.bpf.c)
KERNEL_FILTER_KEYS_MAX: Final = 1024
BLOCKED_PER_FAMILY_MAX: Final = 4096
ALLOWED_ACCESSORS_MAX: Final = 256


def _check_patterns(node: Node, path: str, problems: _Problems) -> tuple[WatchPattern, ...]:
    """Turn a list of pattern strings into watch patterns; no value means an empty list."""
    patterns: list[WatchPattern] = []
    for raw, item, item_path in _string_items(node, path, problems, "patterns"):
        try:
            patterns.append(WatchPattern.parse(raw, line=item.start_mark.line + 1))
        except InvalidPatternError as exc:
            problems.add(item, item_path, str(exc), _shorten(raw))
    keys = len(kernel_filter_keys(patterns))
    if keys > KERNEL_FILTER_KEYS_MAX:
        expected = (
            f"expected patterns that need at most {KERNEL_FILTER_KEYS_MAX} kernel filter keys "
            "(distinct file names, suffixes, prefixes and directory names)"
        )
        problems.add(node, path, expected, f"{len(patterns)} patterns needing {keys}")
    return tuple(patterns)


def _check_blocked_ips(node: Node, path: str, problems: _Problems) -> tuple[BlockedNetwork, ...]:
    """Turn a list of addresses and CIDR networks into blocked networks, each once."""
    blocked: dict[IPNetwork, BlockedNetwork] = {}
    what = "IP addresses or networks"
    hint = "quote IPv6 addresses: YAML reads some, such as 1:2:3:4:5:6:7:8, as numbers"
    for raw, item, item_path in _string_items(node, path, problems, what, hint):
        try:
            entry = BlockedNetwork.parse(raw, line=item.start_mark.line + 1)
        except ValueError as exc:
            expected = "expected an IP address or a network in CIDR notation"
            problems.add(item, item_path, expected, f"{_shorten(raw)} ({exc})")
            continue
        first = blocked.get(entry.network)
        if first is not None:
            same = show_network(entry.network)
            expected = f"expected each network once ({same} is first on line {first.line})"
            problems.add(item, item_path, expected, f"{_shorten(raw)} again")
            continue
        blocked[entry.network] = entry
    for version in (4, 6):
        count = sum(1 for net in blocked if net.version == version)
        if count > BLOCKED_PER_FAMILY_MAX:
            expected = f"expected at most {BLOCKED_PER_FAMILY_MAX} IPv{version} networks"
            problems.add(node, path, expected, str(count))
    return tuple(blocked.values())


def _check_accessors(node: Node, path: str, problems: _Problems) -> tuple[str, ...]:
    """Check a list of comm names and absolute executable paths, each once."""
    first_lines: dict[str, int] = {}
    for raw, item, item_path in _string_items(node, path, problems, "comm names or paths"):
        line = item.start_mark.line + 1
        try:
            check_accessor(raw)
        except ValueError as exc:
            expected = "expected a comm name or an absolute executable path"
            problems.add(item, item_path, expected, f"{_shorten(raw)} ({exc})")
            continue
        if raw in first_lines:
            expected = f"expected each accessor once (first on line {first_lines[raw]})"
            problems.add(item, item_path, expected, f"{_shorten(raw)} again")
            continue
        first_lines[raw] = line
    comms = sum(1 for raw in first_lines if "/" not in raw)
    for what, count in (("comm names", comms), ("executables", len(first_lines) - comms)):
        if count > ALLOWED_ACCESSORS_MAX:
            expected = f"expected at most {ALLOWED_ACCESSORS_MAX} {what}"
            problems.add(node, path, expected, str(count))
    return tuple(first_lines)


# what every probe's maps but its ring buffer lock, all probes together, with
# enforcement on (29.3 MB on Linux 6.18); tools/ebpf_validate checks it
OTHER_MAPS_MAX_BYTES: Final = 32 * MIB
# one ring buffer per probe type
RING_BUFFERS: Final = 3
RING_BUFFER_MAX_BYTES: Final = 1 << 30


def _check_int(node: Node, path: str, problems: _Problems, expected: str) -> int | None:
    """Accept a YAML integer that is at least 1."""
    if isinstance(node, ScalarNode) and node.tag == _TAG_PREFIX + "int":
        value = int(SafeConstructor().construct_yaml_int(node))
        if value >= 1:
            return value
    problems.add(node, path, expected, _describe(node))
    return None


def _check_bytes(node: Node, path: str, problems: _Problems) -> int | None:
    """Accept a positive number of bytes."""
    return _check_int(node, path, problems, "expected a positive integer number of bytes")


def _check_ring_buffer_bytes(node: Node, path: str, problems: _Problems) -> int | None:
    """Accept a ring buffer size the kernel takes: a power of two, whole pages."""
    page = resource.getpagesize()
    expected = f"expected a power of two from {page} (one page) to {RING_BUFFER_MAX_BYTES} bytes"
    value = _check_int(node, path, problems, expected)
    if value is None:
        return None
    if value & (value - 1) or not page <= value <= RING_BUFFER_MAX_BYTES:
        problems.add(node, path, expected, _describe(node))
        return None
    return value


def _check_percent(node: Node, path: str, problems: _Problems) -> float | None:
    """Accept a share of one CPU, more than 0 and at most 100 percent."""
    expected = "expected a number of percent of one CPU, more than 0 and at most 100"
    if isinstance(node, ScalarNode) and node.tag in _NUMBER_TAGS:
        value = float(SafeConstructor().construct_yaml_float(node))
        if 0 < value <= 100:  # noqa: PLR2004 - percent
            return value
    problems.add(node, path, expected, _describe(node))
    return None


def _check_memory_budget(
    values: Mapping[str, object], nodes: Mapping[str, Node], problems: _Problems
) -> None:
    """Refuse ring buffers that, with the other maps, exceed limits.kernel_memory_bytes."""
    defaults = LimitsPolicy()
    ring = values.get("limits.ring_buffer_bytes") or defaults.ring_buffer_bytes
    total = values.get("limits.kernel_memory_bytes") or defaults.kernel_memory_bytes
    assert isinstance(ring, int)  # noqa: S101 - checked by _check_ring_buffer_bytes
    assert isinstance(total, int)  # noqa: S101 - checked by _check_bytes
    needed = RING_BUFFERS * ring + OTHER_MAPS_MAX_BYTES
    if needed <= total:
        return
    key = (
        "limits.ring_buffer_bytes"
        if "limits.ring_buffer_bytes" in nodes
        else ("limits.kernel_memory_bytes")
    )
    expected = (
        f"expected ring buffers that fit limits.kernel_memory_bytes ({total}): "
        f"{RING_BUFFERS} x limits.ring_buffer_bytes + {OTHER_MAPS_MAX_BYTES} for the other maps"
    )
    problems.add(nodes[key], key, expected, f"{needed} bytes needed")


SCHEMA: Final[Mapping[str, KeySpec]] = MappingProxyType(
    {
        "version": KeySpec(
            "integer",
            "Schema version of the policy file. Optional; if present it must be 1.",
            _check_version,
        ),
        "files": KeySpec(
            "mapping",
            "Rules about file access. Optional; leaving it out watches no files.",
        ),
        "files.watch_read": KeySpec(
            "list of strings",
            "Patterns of files whose opening for reading is reported. Optional; "
            "each entry is an absolute path, a bare file name or a glob.",
            _check_patterns,
        ),
        "network": KeySpec(
            "mapping",
            "Rules about outgoing network traffic. Optional; leaving it out blocks nothing.",
        ),
        "network.blocked_ips": KeySpec(
            "list of strings",
            "Destinations whose connects and datagrams are reported as blocked. Optional; "
            "each entry is an IPv4 or IPv6 address or a network in CIDR notation.",
            _check_blocked_ips,
        ),
        "network.enforce": KeySpec(
            "boolean",
            "Whether connects and datagrams to blocked destinations also fail with EPERM. "
            "Optional; false by default.",
            _check_bool,
        ),
        "memory": KeySpec(
            "mapping",
            "Rules about one process reading or writing another's memory. Optional; "
            "leaving it out reports every kind of access and allows no accessor.",
        ),
        "memory.watch": KeySpec(
            "mapping",
            "Which kinds of cross-process memory access are reported. Optional; "
            "a kind left out is reported.",
        ),
        "memory.watch.ptrace": KeySpec(
            "boolean",
            "Report ptrace attaching to or accessing another process. Optional; true by default.",
            _check_bool,
        ),
        "memory.watch.process_vm": KeySpec(
            "boolean",
            "Report process_vm_readv and process_vm_writev on another process. "
            "Optional; true by default.",
            _check_bool,
        ),
        "memory.watch.proc_mem": KeySpec(
            "boolean",
            "Report opens of another process's /proc/<pid>/mem. Optional; true by default.",
            _check_bool,
        ),
        "memory.allowed_accessors": KeySpec(
            "list of strings",
            "Processes whose accesses are neither reported nor enforced. Optional; each "
            "entry is a comm name or an absolute executable path.",
            _check_accessors,
        ),
        "memory.enforce": KeySpec(
            "boolean",
            "Whether an accessor that is not allowed is killed with SIGKILL. "
            "Optional; false by default.",
            _check_bool,
        ),
        "limits": KeySpec(
            "mapping",
            "What bee-trace may take from the host. Optional; a limit left out takes its default.",
        ),
        "limits.ring_buffer_bytes": KeySpec(
            "integer",
            "Size of each probe's ring buffer in bytes: a power of two, at least one page. "
            "Optional; 4194304 (4 MiB) by default.",
            _check_ring_buffer_bytes,
        ),
        "limits.kernel_memory_bytes": KeySpec(
            "integer",
            "Kernel memory all maps may lock together, in bytes. Optional; 67108864 (64 MiB) "
            "by default.",
            _check_bytes,
        ),
        "limits.user_memory_bytes": KeySpec(
            "integer",
            "Peak resident memory of the bee-trace process, in bytes. Optional; 134217728 "
            "(128 MiB) by default.",
            _check_bytes,
        ),
        "limits.cpu_percent": KeySpec(
            "number",
            "CPU time bee-trace may use under a flood of events, in percent of one CPU. "
            "Optional; 50 by default.",
            _check_percent,
        ),
    },
)
"""Every key a policy file may hold, by key path; sections have no ``check``."""


def _section_keys(path: str) -> dict[str, KeySpec]:
    """Return the keys directly inside the section at ``path``, by name."""
    keys: dict[str, KeySpec] = {}
    for key_path, spec in SCHEMA.items():
        parent, _, name = key_path.rpartition(".")
        if parent == path:
            keys[name] = spec
    return keys


def _check_section(
    node: Node,
    path: str,
    problems: _Problems,
    values: dict[str, object],
    nodes: dict[str, Node],
) -> None:
    """Check a mapping against the schema, storing each checked value and its node by key path."""
    keys = _section_keys(path)
    if _is_null(node) and path:
        return
    if not isinstance(node, MappingNode):
        expected = f"expected a mapping with the keys {', '.join(keys)}"
        problems.add(node, path, expected, _describe(node))
        return
    first_lines: dict[str, int] = {}
    for key_node, value_node in cast("list[tuple[Node, Node]]", node.value):
        if not isinstance(key_node, ScalarNode):
            problems.add(key_node, path, "expected a key name", _describe(key_node))
            continue
        name = str(key_node.value)
        key_path = _join(path, name)
        line = key_node.start_mark.line + 1
        if name in first_lines:
            expected = f"expected each key once (first on line {first_lines[name]})"
            problems.add(key_node, key_path, expected, "it again")
            continue
        first_lines[name] = line
        spec = keys.get(name)
        if spec is None:
            found = f"unknown key {_shorten(name)}"
            close = difflib.get_close_matches(name, keys, n=1)
            if close:
                found += f" (did you mean {close[0]!r}?)"
            problems.add(key_node, key_path, f"expected one of the keys {', '.join(keys)}", found)
        elif spec.check is None:
            _check_section(value_node, key_path, problems, values, nodes)
        else:
            values[key_path] = spec.check(value_node, key_path, problems)
            nodes[key_path] = value_node


def _yaml_problem(exc: yaml.YAMLError, text: str, source: str) -> str:
    """Format a YAML syntax error as one line naming its line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        message = f"{source}:{mark.line + 1}: invalid YAML at column {mark.column + 1}: "
        message += exc.problem or "unknown problem"
        if exc.context and exc.context_mark is not None:
            message += f" ({exc.context} on line {exc.context_mark.line + 1})"
        if "alias" in f"{exc.context} {exc.problem}":
            message += "; quote patterns that start with '*', as in \"*.pem\""
        return message
    if isinstance(exc, yaml.reader.ReaderError):
        position = int(exc.position)
        line = text.count("\n", 0, position) + 1
        character = int(exc.character)
        return f"{source}:{line}: invalid YAML: {exc.reason}, found the character U+{character:04X}"
    return f"{source}: invalid YAML: {' '.join(str(exc).split())}"


def parse_policy(text: str, source: str) -> Policy:
    """Parse and validate policy text; ``source`` names it in messages.

    Raises :class:`PolicyError` listing every problem found.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PolicyError([_yaml_problem(exc, text, source)]) from exc
    except RecursionError as exc:
        msg = f"{source}:1: {_TOP_LEVEL}: expected a policy, found nesting too deep to read"
        raise PolicyError([msg]) from exc
    problems = _Problems(source)
    if root is None or (_is_null(root) and not str(root.value)):
        keys = ", ".join(_section_keys(""))
        expected = f"expected a mapping with the keys {keys}"
        msg = f"{source}:1: {_TOP_LEVEL}: {expected}, found an empty document"
        raise PolicyError([msg])
    values: dict[str, object] = {}
    nodes: dict[str, Node] = {}
    _check_section(root, "", problems, values, nodes)
    _check_memory_budget(values, nodes, problems)
    if problems.lines():
        raise PolicyError(problems.lines())
    policy = _build(source, values)
    logger.debug(
        "policy %s: %d watch patterns, %d blocked networks, %d allowed accessors",
        source,
        len(policy.files.watch_read),
        len(policy.network.blocked_ips),
        len(policy.memory.allowed_accessors),
    )
    return policy


def _build(source: str, values: Mapping[str, object]) -> Policy:
    """Assemble the policy records from checked values, by key path; absent keys are defaults."""

    def get(key_path: str, default: _T) -> _T:
        return cast("_T", values.get(key_path, default))

    limits = LimitsPolicy()
    watch = MemoryWatch(
        ptrace=get("memory.watch.ptrace", True),
        process_vm=get("memory.watch.process_vm", True),
        proc_mem=get("memory.watch.proc_mem", True),
    )
    return Policy(
        source=source,
        files=FilePolicy(watch_read=get("files.watch_read", ())),
        network=NetworkPolicy(
            blocked_ips=get("network.blocked_ips", ()),
            enforce=get("network.enforce", False),
        ),
        memory=MemoryPolicy(
            watch=watch,
            allowed_accessors=get("memory.allowed_accessors", ()),
            enforce=get("memory.enforce", False),
        ),
        limits=LimitsPolicy(
            ring_buffer_bytes=get("limits.ring_buffer_bytes", limits.ring_buffer_bytes),
            kernel_memory_bytes=get("limits.kernel_memory_bytes", limits.kernel_memory_bytes),
            user_memory_bytes=get("limits.user_memory_bytes", limits.user_memory_bytes),
            cpu_percent=get("limits.cpu_percent", limits.cpu_percent),
        ),
    )


def _decode(data: bytes, source: str) -> str:
    """Decode policy bytes as UTF-8, naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        msg = f"{source}:{line}: expected UTF-8 text, found the byte 0x{data[exc.start]:02x}"
        raise PolicyError([msg]) from exc


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy at ``path``, or the embedded default when ``None``.

    The default is the package file ``bee_trace/security.yml``, which the build
    copies from ``.github/security.yml``. Raises :class:`PolicyError`.
    """
    source = EMBEDDED_SOURCE if path is None else str(path)
    try:
        if path is None:
            data = resources.files("bee_trace").joinpath("security.yml").read_bytes()
        else:
            data = path.read_bytes()
    except OSError as exc:
        msg = f"{source}: cannot read policy: {exc.strerror or exc}"
        raise PolicyError([msg]) from exc
    return parse_policy(_decode(data, source), source)
