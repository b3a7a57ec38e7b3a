r"""Escaping for byte and text fields, so no field can forge a line or a terminal escape.

File names and ``comm`` come from the kernel as bytes with no encoding
guarantee; a hostile process chooses them. Every field goes through one of
these functions before it reaches an output.

Text output keeps printable UTF-8 readable and turns everything else into
backslash escapes: ``\n``, ``\t``, ``\r``, ``\\`` and ``\xNN`` (lower-case
hex, one per byte). "Printable" is :meth:`str.isprintable`, which rejects C0
and C1 controls, DEL, line and paragraph separators, bidi controls, zero-width
and other format characters, and spaces other than U+0020. A code point that is
valid UTF-8 but not printable is escaped byte by byte, so the escaped text maps
back to exactly the bytes the kernel gave.

JSON output keeps the exact value: bytes decode as UTF-8 where valid, invalid
bytes become the literal text ``\xNN`` and a real backslash becomes ``\\``.
:func:`harden_json` then writes every non-printable character of an encoded
JSON document as a ``\u`` escape, which changes the text but not the value.
"""

from __future__ import annotations

import json
import re

# text decoded with "surrogateescape" carries each undecodable byte as one of these
_RAW_BYTE_FIRST = 0xDC80
_RAW_BYTE_LAST = 0xDCFF

_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}

# characters that force a text value into double quotes
_NEEDS_QUOTES = re.compile('[ ="]')

# any character json.dumps(ensure_ascii=False) may leave raw that is not plain ASCII
_JSON_CANDIDATES = re.compile("[^\x20-\x7e]")


def _char_bytes(char: str) -> bytes:
    """Return the bytes one decoded character stands for."""
    code = ord(char)
    if _RAW_BYTE_FIRST <= code <= _RAW_BYTE_LAST:
        return bytes([code - 0xDC00])
    # "surrogatepass" so a stray surrogate in a str still gives bytes, never an error
    return char.encode("utf-8", "surrogatepass")


def _hex_bytes(raw: bytes) -> str:
    r"""Return ``raw`` as ``\xNN`` escapes."""
    return "".join(f"\\x{byte:02x}" for byte in raw)


def escape_text(text: str) -> str:
    r"""Escape a decoded string for text output.

    ``text`` may carry undecodable bytes as U+DC80..U+DCFF, as
    ``bytes.decode("utf-8", "surrogateescape")`` and :func:`os.fsdecode` leave
    them; each is written as the ``\xNN`` of its byte.
    """
    parts: list[str] = []
    for char in text:
        named = _NAMED_ESCAPES.get(char)
        if named is not None:
            parts.append(named)
        elif char.isprintable():
            parts.append(char)
        else:
            parts.append(_hex_bytes(_char_bytes(char)))
    return "".join(parts)


def escape_bytes(raw: bytes) -> str:
    """Escape a byte field (a path, a ``comm``) for text output.

    The result holds only printable characters, never a line break, and maps
    back to ``raw`` without ambiguity.
    """
    if raw.isascii():
        # the common case, at C speed: printable ASCII without a backslash is its own escape
        plain = raw.decode("ascii")
        if plain.isprintable() and "\\" not in plain:
            return plain
    return escape_text(raw.decode("utf-8", "surrogateescape"))


def quote_value(escaped: str) -> str:
    r"""Make an already escaped value safe as the right side of ``key=value``.

    A value that is empty or holds a space, ``=`` or ``"`` is put in double
    quotes, with ``"`` written as ``\"``; any other value is returned as is.
    """
    if escaped and not _NEEDS_QUOTES.search(escaped):
        return escaped
    return '"' + escaped.replace('"', '\\"') + '"'


def text_value(value: bytes | str) -> str:
    """Escape and, where needed, quote one field value for text output."""
    escaped = escape_bytes(value) if isinstance(value, bytes) else escape_text(value)
    return quote_value(escaped)


def escape_json_str(raw: bytes) -> str:
    r"""Turn a byte field into the string value JSON output carries.

    Valid UTF-8 decodes as itself; each invalid byte becomes the four
    characters ``\xNN`` and each real backslash becomes ``\\``, so two
    different byte strings never give the same value.
    """
    if raw.isascii() and b"\\" not in raw:
        # every byte is valid UTF-8 and none needs a backslash: the value is the text
        return raw.decode("ascii")
    parts: list[str] = []
    for char in raw.decode("utf-8", "surrogateescape"):
        if char == "\\":
            parts.append("\\\\")
        elif _RAW_BYTE_FIRST <= ord(char) <= _RAW_BYTE_LAST:
            parts.append(_hex_bytes(_char_bytes(char)))
        else:
            parts.append(char)
    return "".join(parts)


def _json_escape_char(match: re.Match[str]) -> str:
    r"""Return a non-printable character as JSON ``\u`` escapes; keep others."""
    char = match.group()
    if char.isprintable():
        return char
    # ensure_ascii writes astral characters as a surrogate pair, as JSON requires
    return json.dumps(char, ensure_ascii=True)[1:-1]


def harden_json(document: str) -> str:
    r"""Escape what ``json.dumps(..., ensure_ascii=False)`` leaves raw but a reader should not see.

    JSON escapes only C0 controls, ``"`` and ``\``. DEL, C1 controls,
    U+2028/U+2029 (line breaks to JavaScript and many viewers), bidi controls
    and other non-printable characters are written as ``\uXXXX`` here. The
    decoded value does not change.
    """
    if document.isascii() and "\x7f" not in document:
        # json.dumps escapes every C0 control; in ASCII only DEL is left to escape
        return document
    return _JSON_CANDIDATES.sub(_json_escape_char, document)
