"""The file probe's first-stage filter: signatures of the pre-filter keys.

Every open on the host runs the file probe's exit program, and most open
files nobody watches. So before any map lookup the program takes the last
few bytes of the file's name (and the first few, and the last few of its
parent directory's name) and tests their signatures against a bit set the
policy fills. A key sets the bits of what a matching name must end (or
start) with; a name whose signatures are all clear cannot match any key.
A set bit only means "maybe": the exact keys decide next.

Keys that name a whole name (NAME, HANDOFF, DIRNAME) cost one test per open,
whatever their lengths: the name's own length picks the one signature it
can share with them. Suffix and prefix keys cost one test per key length.

The hash must be computed exactly as ``sig_hit()`` in ``file_monitor.bpf.c``
does, with 64-bit wrap-around.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from bee_trace.policy.patterns import FilterKind

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bee_trace.policy.patterns import FilterKey

# BT_SIG_SPAN, BT_SIG_BITS in bee_trace.h
SPAN: Final = 8
BITS: Final = 16
WORDS: Final = (1 << BITS) // 64

_MASK64: Final = (1 << 64) - 1
_TAG_MUL: Final = 0x100000001B3
_GOLDEN: Final = 0x9E3779B97F4A7C15


class SigTag(IntEnum):
    """``enum bt_sig_tag``: which end of which name a signature covers."""

    TAIL = 0
    HEAD = 1
    PARENT = 2
    NAME = 3


def signature(tag: SigTag, edge: bytes) -> int:
    """The bit index of the 1 to :data:`SPAN` bytes ``edge`` as a ``tag`` signature."""
    if not 1 <= len(edge) <= SPAN:
        msg = f"a signature covers 1 to {SPAN} bytes, not {len(edge)}"
        raise ValueError(msg)
    value = int.from_bytes(edge, "little")
    mixed = (value + (int(tag) * 16 + len(edge)) * _TAG_MUL) & _MASK64
    return ((mixed * _GOLDEN) & _MASK64) >> (64 - BITS)


_KIND_EDGE: Final = {
    FilterKind.NAME: SigTag.NAME,
    FilterKind.SUFFIX: SigTag.TAIL,
    FilterKind.HANDOFF: SigTag.NAME,
    FilterKind.PREFIX: SigTag.HEAD,
    FilterKind.DIRNAME: SigTag.PARENT,
}


@dataclass(frozen=True, slots=True)
class SignatureSet:
    """The bit set and, per tag, which edge lengths occur (bit n-1 for n bytes)."""

    words: tuple[int, ...]
    lens: tuple[int, int, int, int]

    def covers(self, tag: SigTag, edge: bytes) -> bool:
        """Whether this edge of a name has its signature in the set.

        For NAME and PARENT the edge is the whole name, or its last
        :data:`SPAN` bytes if longer; otherwise it is the name's last (or,
        for HEAD, first) bytes of one key length.
        """
        bit = signature(tag, edge)
        return bool(self.lens[tag] & (1 << (len(edge) - 1))) and bool(
            self.words[bit >> 6] >> (bit & 63) & 1
        )


def signature_set(keys: Iterable[FilterKey]) -> SignatureSet:
    """The first-stage filter that lets through every name some key could match."""
    words = [0] * WORDS
    lens = [0, 0, 0, 0]
    for key in keys:
        tag = _KIND_EDGE[key.kind]
        # what a matching name must end with (or start with, for a prefix)
        edge = key.value[:SPAN] if tag == SigTag.HEAD else key.value[-SPAN:]
        bit = signature(tag, edge)
        words[bit >> 6] |= 1 << (bit & 63)
        lens[tag] |= 1 << (len(edge) - 1)
    return SignatureSet(words=tuple(words), lens=(lens[0], lens[1], lens[2], lens[3]))
