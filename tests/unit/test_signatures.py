"""The file probe's first-stage filter, computed in user space."""

from __future__ import annotations

import pytest

from bee_trace.events import records
from bee_trace.policy import FilterKey, FilterKind
from bee_trace.policy.signatures import (
    BITS,
    SPAN,
    WORDS,
    SigTag,
    signature,
    signature_set,
)

KEYS = (
    FilterKey(FilterKind.NAME, b"id_rsa"),
    FilterKey(FilterKind.NAME, b"application_default_credentials.json"),
    FilterKey(FilterKind.SUFFIX, b".key"),
    FilterKey(FilterKind.PREFIX, b"secret_"),
    FilterKey(FilterKind.PREFIX, b"a-long-prefix-of-many-bytes"),
    FilterKey(FilterKind.DIRNAME, b"private"),
    FilterKey(FilterKind.HANDOFF, b"mem"),
)


def test_sizes_agree_with_the_kernel_config() -> None:
    assert WORDS == records.SIG_WORDS
    assert WORDS * 64 == 1 << BITS


def test_signature_is_in_range_and_depends_on_tag_and_length() -> None:
    bits = {signature(tag, b"abcdefgh"[:n]) for tag in SigTag for n in range(1, SPAN + 1)}
    assert all(0 <= b < 1 << BITS for b in bits)
    # 4 tags x 8 lengths: distinct here, so one edge does not stand in for another
    assert len(bits) == len(SigTag) * SPAN


def test_signature_is_the_kernels_formula() -> None:
    # sig_hit() in file_monitor.bpf.c, worked by hand for "mem" as a tail
    value = int.from_bytes(b"mem", "little")
    mixed = (value + (0 * 16 + 3) * 0x100000001B3) % 2**64
    assert signature(SigTag.TAIL, b"mem") == (mixed * 0x9E3779B97F4A7C15) % 2**64 >> 48


@pytest.mark.parametrize("edge", [b"", b"123456789"])
def test_signature_of_a_bad_length_is_refused(edge: bytes) -> None:
    with pytest.raises(ValueError, match="1 to 8 bytes"):
        signature(SigTag.TAIL, edge)


@pytest.mark.parametrize(
    ("tag", "edge"),
    [
        (SigTag.NAME, b"id_rsa"),
        # a name longer than a signature is known by its last bytes
        (SigTag.NAME, b"als.json"),
        # a suffix: any name ending so has this tail
        (SigTag.TAIL, b".key"),
        (SigTag.HEAD, b"secret_"),
        (SigTag.HEAD, b"a-long-p"),
        (SigTag.PARENT, b"private"),
        (SigTag.NAME, b"mem"),
    ],
)
def test_every_key_is_covered(tag: SigTag, edge: bytes) -> None:
    assert signature_set(KEYS).covers(tag, edge)


@pytest.mark.parametrize(
    ("tag", "edge"),
    [
        (SigTag.TAIL, b"notes.tx"),
        (SigTag.TAIL, b"_rsa"),  # as long as ".key", but another edge
        (SigTag.HEAD, b"id_rsa"),  # a name key is a whole name, not a head
        (SigTag.TAIL, b"id_rsa"),  # nor a suffix
        (SigTag.PARENT, b"mem"),  # nor a parent
    ],
)
def test_other_edges_are_not_covered(tag: SigTag, edge: bytes) -> None:
    assert not signature_set(KEYS).covers(tag, edge)


def test_lengths_are_recorded_per_tag() -> None:
    sigs = signature_set(KEYS)
    tail, head, parent, name = sigs.lens
    assert tail == 1 << 3  # the 4 bytes of ".key"
    assert head == (1 << 6) | (1 << 7)  # 7 and 8 bytes
    assert parent == 1 << 6  # 7 bytes
    assert name == (1 << 5) | (1 << 7) | (1 << 2)  # 6, 8 (or more) and 3 bytes


def test_an_empty_policy_lets_nothing_through() -> None:
    sigs = signature_set(())
    assert sigs.lens == (0, 0, 0, 0)
    assert not any(sigs.words)
