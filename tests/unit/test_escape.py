"""Escaping of byte and text fields: no field may forge a line or a terminal escape."""

from __future__ import annotations

import json
import random
import re

import pytest

from bee_trace.outputs.escape import (
    escape_bytes,
    escape_json_str,
    escape_text,
    harden_json,
    quote_value,
    text_value,
)

_TEXT_ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|(.))", re.DOTALL)
_SIMPLE = {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\", '"': b'"'}


def unescape_text(escaped: str) -> bytes:
    """Invert escape_bytes, as a log reader would."""
    out = bytearray()
    pos = 0
    for match in _TEXT_ESCAPE.finditer(escaped):
        out += escaped[pos : match.start()].encode()
        hex_byte, simple = match.groups()
        out += bytes([int(hex_byte, 16)]) if hex_byte else _SIMPLE[simple]
        pos = match.end()
    out += escaped[pos:].encode()
    return bytes(out)


def unescape_json(value: str) -> bytes:
    """Invert escape_json_str."""
    out = bytearray()
    pos = 0
    for match in re.finditer(r"\\(?:x([0-9a-f]{2})|(\\))", value):
        out += value[pos : match.start()].encode()
        out += bytes([int(match.group(1), 16)]) if match.group(1) else b"\\"
        pos = match.end()
    out += value[pos:].encode()
    return bytes(out)


def printable_ascii_or_text(escaped: str) -> bool:
    return all(c.isprintable() for c in escaped)


@pytest.mark.parametrize(
    "raw",
    [b"/etc/shadow", b"/home/u/.ssh/id_rsa", "/srv/caf\u00e9/\u65e5\u672c".encode(), b"a b"],
)
def test_printable_utf8_passes_through(raw: bytes) -> None:
    assert escape_bytes(raw) == raw.decode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a\nb", "a\\nb"),
        (b"a\tb", "a\\tb"),
        (b"a\rb", "a\\rb"),
        (b"a\\b", "a\\\\b"),
        (b"\x00", "\\x00"),
        (b"\x07\x08\x0b\x0c", "\\x07\\x08\\x0b\\x0c"),
        (b"\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        (b"\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        (b"\x7f", "\\x7f"),
    ],
)
def test_controls_and_backslash_are_escaped(raw: bytes, expected: str) -> None:
    assert escape_bytes(raw) == expected


def test_newline_cannot_forge_a_second_line() -> None:
    forged = b"/srv/x\nEvent: File access time=2026-01-01T00:00:00.000000Z pid=1 path=/etc/shadow"
    escaped = escape_bytes(forged)
    assert "\n" not in escaped
    assert len(escaped.splitlines()) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # C1 controls arrive as valid two-byte UTF-8; each byte is escaped
        (b"\xc2\x85", "\\xc2\\x85"),  # NEL
        (b"\xc2\x9b31m", "\\xc2\\x9b31m"),  # CSI
        (b"\xc2\x80\xc2\x9f", "\\xc2\\x80\\xc2\\x9f"),
        # a lone C1 byte is invalid UTF-8
        (b"\x9b31m", "\\x9b31m"),
    ],
)
def test_c1_controls_are_escaped(raw: bytes, expected: str) -> None:
    assert escape_bytes(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe", "\\xff\\xfe"),
        (b"ok\xe2\x82", "ok\\xe2\\x82"),  # truncated sequence
        (b"\xc0\xaf", "\\xc0\\xaf"),  # overlong "/"
        (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),  # encoded surrogate
        (b"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),  # above U+10FFFF
        (b"caf\xe9", "caf\\xe9"),  # Latin-1, not UTF-8
    ],
)
def test_invalid_utf8_is_escaped_per_byte(raw: bytes, expected: str) -> None:
    assert escape_bytes(raw) == expected


@pytest.mark.parametrize(
    "code_point",
    [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)],
)
def test_separators_and_bidi_controls_are_escaped(code_point: int) -> None:
    char = chr(code_point)
    raw = f"a{char}b".encode()
    expected = "a" + "".join(f"\\x{b:02x}" for b in char.encode()) + "b"
    assert escape_bytes(raw) == expected


@pytest.mark.parametrize("char", ["\u00a0", "\u200b", "\u200e", "\ufeff", "\U000e0041"])
def test_other_invisible_characters_are_escaped(char: str) -> None:
    escaped = escape_bytes(char.encode())
    assert escaped.startswith("\\x")
    assert unescape_text(escaped) == char.encode()


def test_backslash_is_unambiguous() -> None:
    assert escape_bytes(b"\\x41") != escape_bytes(b"A")
    assert escape_bytes(b"\\x1b") != escape_bytes(b"\x1b")
    assert escape_bytes(b"\\n") != escape_bytes(b"\n")
    assert escape_bytes(b"\\x1b") == "\\\\x1b"


def test_escape_round_trips_random_bytes() -> None:
    rng = random.Random(20261204)  # noqa: S311 - reproducible test data
    for _ in range(2000):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
        escaped = escape_bytes(raw)
        assert printable_ascii_or_text(escaped)
        assert unescape_text(escaped) == raw


def test_escape_text_reads_surrogateescape_and_lone_surrogates() -> None:
    assert escape_text("a\udcffb") == "a\\xffb"
    assert escape_text("\ud800") == "\\xed\\xa0\\x80"
    assert escape_text("line\nbreak") == "line\\nbreak"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"plain", "plain"),
        (b"two words", '"two words"'),
        (b"k=v", '"k=v"'),
        (b'say "hi"', '"say \\"hi\\""'),
        (b'"', '"\\""'),
        (b"", '""'),
        ("openat", "openat"),
        (b"a\nb c", '"a\\nb c"'),
    ],
)
def test_text_value_quotes_when_needed(value: bytes | str, expected: str) -> None:
    assert text_value(value) == expected


def test_quote_value_leaves_safe_values_alone() -> None:
    assert quote_value("/etc/passwd") == "/etc/passwd"
    assert quote_value("a b") == '"a b"'


def test_json_str_keeps_valid_utf8() -> None:
    assert escape_json_str("/srv/caf\u00e9".encode()) == "/srv/caf\u00e9"
    assert escape_json_str(b"a\nb\x1b") == "a\nb\x1b"  # json.dumps escapes these later


def test_json_str_marks_invalid_bytes_and_doubles_backslash() -> None:
    assert escape_json_str(b"caf\xe9") == "caf\\xe9"
    assert escape_json_str(b"a\\b") == "a\\\\b"
    assert escape_json_str(b"\\xe9") == "\\\\xe9"
    assert escape_json_str(b"\\xe9") != escape_json_str(b"\xe9")


def test_json_str_round_trips_random_bytes() -> None:
    rng = random.Random(4242)  # noqa: S311 - reproducible test data
    for _ in range(2000):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
        assert unescape_json(escape_json_str(raw)) == raw


@pytest.mark.parametrize(
    "char", ["\u2028", "\u2029", "\u202e", "\u2066", "\x7f", "\x85", "\x9b", "\u200b"]
)
def test_harden_json_escapes_without_changing_value(char: str) -> None:
    value = f"a{char}b"
    document = harden_json(json.dumps({"v": value}, ensure_ascii=False))
    assert char not in document
    assert f"\\u{ord(char):04x}" in document
    assert json.loads(document) == {"v": value}


def test_harden_json_uses_surrogate_pairs_for_astral_characters() -> None:
    document = harden_json(json.dumps("\U000e0041", ensure_ascii=False))
    assert document == '"\\udb40\\udc41"'
    assert json.loads(document) == "\U000e0041"


def test_harden_json_keeps_printable_text() -> None:
    document = json.dumps("caf\u00e9 \u65e5\u672c \U0001f41d", ensure_ascii=False)
    assert harden_json(document) == document
