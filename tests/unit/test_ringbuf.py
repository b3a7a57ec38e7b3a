"""The batch consumers without the kernel: rings laid out in plain buffers as the kernel does."""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

import pytest

from bee_trace.bpf import ringbuf
from bee_trace.bpf.libbpf import BPF_MAP_TYPE_RINGBUF
from bee_trace.bpf.ringbuf import (
    BUSY_BIT,
    DISCARD_BIT,
    RECORD_HEADER_SIZE,
    MappedRingBuffer,
    RecordBatcher,
    RingView,
)
from bee_trace.errors import LoadError

if TYPE_CHECKING:
    from bee_trace.bpf.libbpf import BpfMap, LostHandler, SampleHandler

PAGE = 4096
POS = struct.Struct("@L")
LEN = struct.Struct("@II")


class FakeRing:
    """A ring buffer of ``size`` data bytes: consumer page, producer page, data mapped twice."""

    def __init__(self, size: int, start: int = 0) -> None:
        self.size = size
        self.consumer = bytearray(PAGE)
        POS.pack_into(self.consumer, 0, start)
        self.data = bytearray(size)
        self.producer = start

    def view(self) -> RingView:
        return RingView(self.consumer, self.area(), PAGE, self.size)

    def area(self) -> bytes:
        """The producer page and the data area twice, as the kernel maps them."""
        page = bytearray(PAGE)
        POS.pack_into(page, 0, self.producer)
        return bytes(page) + bytes(self.data) * 2

    def put(self, payload: bytes, flags: int = 0) -> None:
        """Reserve and commit one record at the producer position (wrapping as the kernel does)."""
        at = self.producer % self.size
        record = LEN.pack(len(payload) | flags, 0) + payload
        record += b"\0" * (-len(record) % 8)
        for i, byte in enumerate(record):
            self.data[(at + i) % self.size] = byte
        self.producer += len(record)

    @property
    def consumed(self) -> int:
        position: int = POS.unpack_from(self.consumer, 0)[0]
        return position


def test_records_come_out_in_order_and_their_space_is_released() -> None:
    ring = FakeRing(256)
    payloads = [b"a", b"bcdefghi", b"j" * 13]
    for p in payloads:
        ring.put(p)
    view = ring.view()
    assert view.take() == payloads
    # every record is 8-byte aligned: header plus payload, rounded up
    assert ring.consumed == ring.producer == 16 + 16 + 24
    assert view.position == ring.producer
    assert view.take() == []


def test_a_busy_record_ends_the_batch_and_is_not_stepped_over() -> None:
    ring = FakeRing(256)
    ring.put(b"first")
    busy_at = ring.producer
    ring.put(b"being written", BUSY_BIT)
    ring.put(b"after")
    view = ring.view()
    assert view.take() == [b"first"]
    assert ring.consumed == busy_at
    # still busy: nothing more, and the position stays
    assert view.take() == []
    assert ring.consumed == busy_at


def test_discarded_records_are_skipped_but_their_space_released() -> None:
    ring = FakeRing(256)
    ring.put(b"kept 1")
    ring.put(b"thrown away", DISCARD_BIT)
    ring.put(b"kept 2")
    view = ring.view()
    assert view.take() == [b"kept 1", b"kept 2"]
    assert ring.consumed == ring.producer


def test_only_discarded_records_release_space_and_give_no_record() -> None:
    ring = FakeRing(64)
    ring.put(b"x", DISCARD_BIT)
    view = ring.view()
    assert view.take() == []
    assert ring.consumed == ring.producer == 16


def test_a_record_wrapping_past_the_end_of_the_data_area_is_whole() -> None:
    # the header takes the last 8 bytes of the area; the payload wraps round to its start
    ring = FakeRing(64, start=56)
    ring.put(b"wraps round the end")
    assert ring.data[56:64] == LEN.pack(19, 0)
    assert ring.data[:19] == b"wraps round the end"
    view = ring.view()
    assert view.take() == [b"wraps round the end"]
    assert ring.consumed == ring.producer == 56 + 32
    # and the next record starts past the wrap
    ring.put(b"next")
    assert RingView(ring.consumer, ring.area(), PAGE, 64).take() == [b"next"]


def test_a_header_wrapping_position_reads_at_the_masked_offset() -> None:
    # positions only grow; the data offset is the position modulo the size
    ring = FakeRing(64, start=64 * 1000 + 8)
    ring.put(b"far along")
    assert ring.view().take() == [b"far along"]


def test_a_batch_takes_at_most_its_limit() -> None:
    ring = FakeRing(256)
    for i in range(5):
        ring.put(bytes([i]))
    view = ring.view()
    assert view.take(limit=2) == [b"\0", b"\1"]
    assert ring.consumed == 2 * 16
    assert view.take(limit=10) == [b"\2", b"\3", b"\4"]


def test_an_empty_record_is_a_record() -> None:
    ring = FakeRing(64)
    ring.put(b"")
    assert ring.view().take() == [b""]
    assert ring.consumed == RECORD_HEADER_SIZE


def test_the_data_size_must_be_a_power_of_two() -> None:
    ring = FakeRing(64)
    with pytest.raises(ValueError, match="not a power of two"):
        RingView(ring.consumer, ring.area(), PAGE, 48)


# --- the per-record consumer seen in batches (perf-buffer fallback) ---


class _FakePerRecord:
    """A per-record consumer that hands over queued records per map on poll."""

    def __init__(self) -> None:
        self.handlers: list[SampleHandler] = []
        self.queued: list[tuple[int, bytes]] = []
        self.lost = 7
        self.closed = False

    def add(
        self, bpf_map: BpfMap, handler: SampleHandler, on_lost: LostHandler | None = None
    ) -> None:
        del bpf_map, on_lost
        self.handlers.append(handler)

    def poll(self, timeout_ms: int) -> int:
        del timeout_ms
        return self.consume()

    def consume(self) -> int:
        queued, self.queued = self.queued, []
        for index, raw in queued:
            self.handlers[index](raw)
        return len(queued)

    def close(self) -> None:
        self.closed = True


class _BoomError(Exception):
    pass


def test_a_per_record_consumer_delivers_one_batch_per_map() -> None:
    inner = _FakePerRecord()
    batcher = RecordBatcher(inner)
    first: list[list[bytes]] = []
    second: list[list[bytes]] = []
    batcher.add(None, first.append)  # type: ignore[arg-type]
    batcher.add(None, second.append)  # type: ignore[arg-type]
    inner.queued = [(0, b"a"), (1, b"x"), (0, b"b")]
    assert batcher.poll(0) == 3
    assert first == [[b"a", b"b"]]
    assert second == [[b"x"]]
    assert batcher.consume() == 0
    assert first == [[b"a", b"b"]]
    assert batcher.lost == 7
    batcher.close()
    assert inner.closed


def test_a_batch_handler_error_is_raised_after_every_map_had_its_batch() -> None:
    inner = _FakePerRecord()
    batcher = RecordBatcher(inner)
    seen: list[list[bytes]] = []

    def failing(batch: list[bytes]) -> None:
        msg = f"failed on {len(batch)}"
        raise _BoomError(msg)

    batcher.add(None, failing)  # type: ignore[arg-type]
    batcher.add(None, seen.append)  # type: ignore[arg-type]
    inner.queued = [(0, b"a"), (1, b"x")]
    with pytest.raises(_BoomError, match="failed on 1"):
        batcher.consume()
    assert seen == [[b"x"]]
    # the failed batch is not handed over again
    assert batcher.consume() == 0


class _FakeMap:
    """What MappedRingBuffer reads of a map, over a file that cannot be mapped."""

    name = "events"
    map_type = BPF_MAP_TYPE_RINGBUF
    max_entries = 4096

    def __init__(self, fd: int) -> None:
        self.fd = fd


def test_a_ring_that_cannot_be_mapped_is_a_load_error() -> None:
    fd = os.open(os.devnull, os.O_RDWR)
    ring = MappedRingBuffer()
    try:
        with pytest.raises(LoadError, match="cannot map ring buffer events: ") as e:
            ring.add(_FakeMap(fd), lambda _batch: None)  # type: ignore[arg-type]
        assert e.value.errno == errno.ENODEV
        assert ring.poll(0) == 0
    finally:
        ring.close()
        os.close(fd)


@pytest.mark.parametrize(
    ("machine", "ordered"),
    [("x86_64", True), ("i686", True), ("aarch64", False), ("riscv64", False), ("", False)],
)
def test_mapped_reads_only_where_loads_are_ordered(machine: str, *, ordered: bool) -> None:
    assert ringbuf.mapped_reads_ordered(machine) is ordered
