"""The C records and their Python mirrors cannot drift apart.

``kernel/bee_trace.h`` is the one declaration. The layouts are compared with
the BTF clang wrote into every installed object (opened, never loaded: no
privileges needed), and the enum values and sizes with the header's text.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.resources
import re
import sys
from enum import IntEnum
from pathlib import Path

import pytest

import bee_trace.policy
from bee_trace.bpf import BpfObject, StructLayout
from bee_trace.errors import ExitCode, LoadError
from bee_trace.events import records
from bee_trace.events.records import (
    COMM_LEN,
    COUNTER_SLOTS,
    MIRRORS,
    PATH_MAX,
    Counter,
    EventHeader,
    EventKind,
    FilterKey,
    check_layout,
    mirror_layout,
)
from bee_trace.policy import FilterKind, signatures
from bee_trace.policy.signatures import SigTag
from bee_trace.probes import PROBES
from bee_trace.probes.base import object_path
from bee_trace.probes.file import OpenSyscall, PathSource

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "src" / "bee_trace" / "kernel" / "bee_trace.h"
KERNEL_DIR = Path(str(importlib.resources.files("bee_trace.kernel")))
OBJECTS = sorted(KERNEL_DIR.glob("*.bpf.o"))
COMMON_HEADER = "bt_event_header"


def open_object(path: Path) -> contextlib.closing[BpfObject]:
    return contextlib.closing(BpfObject(path))


def layouts_in(obj: BpfObject) -> dict[str, StructLayout]:
    """Every mirrored struct the object's BTF declares, by name."""
    found: dict[str, StructLayout] = {}
    for name in MIRRORS:
        with contextlib.suppress(LoadError):
            found[name] = obj.struct_layout(name)
    return found


# layouts: installed objects against the mirrors


def test_the_package_ships_an_object_for_every_probe() -> None:
    assert OBJECTS, f"no *.bpf.o in {KERNEL_DIR}: install the package (it builds them)"
    for probe in PROBES.values():
        path = object_path(probe.object_name)
        assert path.parent == KERNEL_DIR
        assert path in OBJECTS, f"{probe.name}: {path} was not built"


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_every_mirrored_struct_in_an_object_matches(path: Path) -> None:
    with open_object(path) as obj:
        found = layouts_in(obj)

    assert COMMON_HEADER in found, f"{path.name}: every record starts with {COMMON_HEADER}"
    for name, layout in found.items():
        check_layout(layout, MIRRORS[name])


@pytest.mark.parametrize("name", sorted(PROBES))
def test_every_record_of_a_probe_is_in_its_object_and_matches(name: str) -> None:
    probe = PROBES[name]
    assert probe.records, f"{name} declares no records"

    with open_object(object_path(probe.object_name)) as obj:
        for struct_name, mirror in probe.records.items():
            assert MIRRORS.get(struct_name) is mirror, f"{struct_name} has a second mirror"
            check_layout(obj.struct_layout(struct_name), mirror)


def test_a_struct_missing_from_btf_is_a_load_error() -> None:
    with open_object(OBJECTS[0]) as obj, pytest.raises(LoadError, match="no BTF for struct"):
        obj.struct_layout("bt_no_such_record")


# a mirror that drifted is reported, naming what moved


class MovedField(ctypes.Structure):
    """``bt_event_header`` with ppid and uid swapped: same size, wrong offsets."""

    _fields_ = (
        ("kind", ctypes.c_uint16),
        ("size", ctypes.c_uint16),
        ("_pad0", ctypes.c_uint32),
        ("ts_boot_ns", ctypes.c_uint64),
        ("pid", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("uid", ctypes.c_uint32),
        ("ppid", ctypes.c_uint32),
        ("comm", ctypes.c_char * COMM_LEN),
    )


class WidenedField(ctypes.Structure):
    """``bt_filter_key`` with a 16-bit len: every later field moves, and the size."""

    _fields_ = (
        ("kind", ctypes.c_uint8),
        ("len", ctypes.c_uint16),
        ("_pad", ctypes.c_uint8 * 2),
        ("value", ctypes.c_char * records.FILTER_KEY_MAX),
    )


class MissingField(ctypes.Structure):
    """``bt_event_header`` without comm."""

    _fields_ = EventHeader._fields_[:-1]


def drift_problems(struct_name: str, mirror: type[ctypes.Structure]) -> str:
    with open_object(object_path(PROBES["file_monitor"].object_name)) as obj:
        layout = obj.struct_layout(struct_name)
    with pytest.raises(LoadError) as caught:
        check_layout(layout, mirror)
    assert caught.value.exit_code == ExitCode.LOAD
    message = str(caught.value)
    assert message.startswith(f"struct {struct_name} drifted from its Python mirror: ")
    return message


def test_a_moved_field_is_named_with_both_offsets() -> None:
    message = drift_problems("bt_event_header", MovedField)

    assert "field ppid: offset 24 in BTF, 28 in Python" in message
    assert "field uid: offset 28 in BTF, 24 in Python" in message
    assert "size" not in message
    assert "field pid" not in message


def test_a_widened_field_moves_what_follows_and_the_size() -> None:
    message = drift_problems("bt_filter_key", WidenedField)

    assert "size 64 in BTF, 66 in Python" in message
    assert "field _pad: offset 2 in BTF, 4 in Python" in message
    assert "field value: offset 4 in BTF, 6 in Python" in message
    assert "field kind" not in message


def test_a_missing_field_is_named() -> None:
    message = drift_problems("bt_event_header", MissingField)

    assert "field comm: offset 32 in BTF, None in Python" in message


def test_an_extra_field_is_named() -> None:
    btf = StructLayout(name="bt_x", size=8, offsets={"a": 0})

    class Extra(ctypes.Structure):
        _fields_ = (("a", ctypes.c_uint32), ("b", ctypes.c_uint32))

    with pytest.raises(LoadError, match=r"field b: offset None in BTF, 4 in Python"):
        check_layout(btf, Extra)


def test_mirror_layout_gives_size_and_offsets_like_btf() -> None:
    assert mirror_layout(EventHeader) == StructLayout(
        name="EventHeader",
        size=48,
        offsets={
            "kind": 0,
            "size": 2,
            "_pad0": 4,
            "ts_boot_ns": 8,
            "pid": 16,
            "tid": 20,
            "ppid": 24,
            "uid": 28,
            "comm": 32,
        },
    )
    assert mirror_layout(FilterKey) == StructLayout(
        name="FilterKey", size=64, offsets={"kind": 0, "len": 1, "_pad": 2, "value": 4}
    )


def test_mirror_layout_lists_fields_in_declaration_order() -> None:
    for mirror in MIRRORS.values():
        assert list(mirror_layout(mirror).offsets) == [f[0] for f in mirror._fields_]


# enum values and sizes: the header's text against the Python constants

_ENUM = re.compile(r"^enum\s+(\w+)\s*\{(.*?)\};", re.MULTILINE | re.DOTALL)
_ENUMERATOR = re.compile(r"(BT_\w+)\s*=\s*(\d+)")
_DEFINE = re.compile(r"^#define\s+(BT_\w+)\s+(\d+)\s*$", re.MULTILINE)
_TWIN_DOC = re.compile(r"``enum (bt_\w+)``")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)

# C enum -> (prefix of its enumerators, Python twin)
ENUM_TWINS: dict[str, tuple[str, type[IntEnum]]] = {
    "bt_event_kind": ("BT_EVENT_", EventKind),
    "bt_counter": ("BT_CNT_", Counter),
    "bt_filter_kind": ("BT_FILTER_", FilterKind),
    "bt_open_syscall": ("BT_SYS_", OpenSyscall),
    "bt_file_path_source": ("BT_PATH_", PathSource),
    "bt_sig_tag": ("BT_SIG_", SigTag),
}
# enumerators that size an array instead of naming a member
ENUM_SIZES = {"BT_CNT_MAX": COUNTER_SLOTS}
DEFINE_TWINS = {
    "BT_COMM_LEN": COMM_LEN,
    "BT_PATH_MAX": PATH_MAX,
    "BT_FILTER_KEY_MAX": records.FILTER_KEY_MAX,
    "BT_SIG_SPAN": signatures.SPAN,
    "BT_SIG_BITS": signatures.BITS,
}


def header_enums() -> dict[str, dict[str, int]]:
    """``enum name -> {enumerator: value}``; every enumerator needs its value spelled out."""
    text = _COMMENT.sub("", HEADER.read_text())
    enums: dict[str, dict[str, int]] = {}
    for name, body in _ENUM.findall(text):
        values: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in body.split(","))):
            m = _ENUMERATOR.fullmatch(item)
            assert m, f"enum {name}: {item!r} should read 'BT_NAME = number'"
            values[m.group(1)] = int(m.group(2))
        enums[name] = values
    return enums


def header_defines() -> dict[str, int]:
    return {name: int(value) for name, value in _DEFINE.findall(HEADER.read_text())}


def test_the_header_parses() -> None:
    enums = header_enums()

    # the parser finds what it must, so an empty parse cannot pass the tests below
    assert set(ENUM_TWINS) <= set(enums)
    assert all(enums.values())
    assert enums["bt_event_kind"]["BT_EVENT_FILE_ACCESS"] == 1
    assert set(DEFINE_TWINS) <= set(header_defines())


def discovered_twins() -> dict[str, type[IntEnum]]:
    """IntEnums that name their C enum in their docstring (``enum bt_x``), by C name.

    Looked for in the records module and in every registered probe's module,
    so a new probe's enums are checked as soon as it is registered.
    """
    modules = {records, *(sys.modules[probe.__module__] for probe in PROBES.values())}
    twins: dict[str, type[IntEnum]] = {}
    for module in modules:
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, IntEnum)):
                continue
            m = _TWIN_DOC.match(value.__doc__ or "")
            if m and value.__module__ == module.__name__:
                twins[m.group(1)] = value
    return twins


def assert_enum_matches(enum_name: str, prefix: str, twin: type[IntEnum]) -> None:
    members = {}
    for name, value in header_enums()[enum_name].items():
        assert name.startswith(prefix), f"{name} in enum {enum_name} lacks the prefix {prefix}"
        if name in ENUM_SIZES:
            assert value == ENUM_SIZES[name], name
            assert value == len(twin), f"{name} is {value}, {twin.__name__} has {len(twin)}"
        else:
            members[name.removeprefix(prefix)] = value

    assert members == {m.name: m.value for m in twin}, f"enum {enum_name} vs {twin.__name__}"


def test_every_enum_in_the_header_has_a_python_twin() -> None:
    twins = set(ENUM_TWINS) | set(discovered_twins())

    missing = set(header_enums()) - twins
    assert not missing, (
        f"C enums without a Python IntEnum: {sorted(missing)}; give the IntEnum the "
        "docstring ``enum <name>`` in a registered probe's module, or add it to ENUM_TWINS"
    )


def test_a_docstring_naming_a_listed_enum_names_its_listed_twin() -> None:
    for enum_name, twin in discovered_twins().items():
        if enum_name in ENUM_TWINS:
            assert ENUM_TWINS[enum_name][1] is twin, enum_name


@pytest.mark.parametrize("enum_name", sorted(ENUM_TWINS))
def test_enum_values_match(enum_name: str) -> None:
    prefix, twin = ENUM_TWINS[enum_name]

    assert_enum_matches(enum_name, prefix, twin)


def test_enum_values_of_other_probes_match() -> None:
    in_c = header_enums()
    for enum_name, twin in discovered_twins().items():
        if enum_name in ENUM_TWINS:
            continue
        assert enum_name in in_c, f"{twin.__name__} names enum {enum_name}, not in {HEADER.name}"
        # the prefix is what the C name of the first member adds to its Python name
        first = next(iter(twin))
        c_names = [name for name, value in in_c[enum_name].items() if value == first.value]
        assert len(c_names) == 1, f"enum {enum_name}: {first.value} appears {len(c_names)} times"
        assert c_names[0].endswith("_" + first.name), (enum_name, c_names[0], first.name)
        assert_enum_matches(enum_name, c_names[0].removesuffix(first.name), twin)


def test_every_define_has_a_python_twin_with_its_value() -> None:
    assert header_defines() == DEFINE_TWINS, (
        "every #define BT_* number in the header needs its Python constant in DEFINE_TWINS"
    )


def test_the_policy_and_the_records_agree_on_the_key_size() -> None:
    assert bee_trace.policy.FILTER_KEY_MAX == records.FILTER_KEY_MAX
    assert FilterKey.value.size == records.FILTER_KEY_MAX


def test_array_fields_are_sized_by_the_header_constants() -> None:
    assert EventHeader.comm.size == COMM_LEN
    assert records.FileEvent.path.size == PATH_MAX
