"""Batch consumers of the kernel programs' events, without a callback per record.

:class:`MappedRingBuffer` reads BPF ring buffers straight from their memory
mapping, as libbpf's own consumer does, and hands each map's handler every
record available in one list. :class:`RecordBatcher` gives the perf-buffer
fallback the same interface.

A ring buffer map is mapped in two parts (``kernel/bpf/ringbuf.c``):

* offset 0, one page, read-write: ``consumer_pos``, which only we advance;
* offset one page, read-only: a page holding ``producer_pos``, then the data
  area mapped twice in a row, so a record that wraps past the end of the
  area is still contiguous in memory.

Each record starts with an 8-byte header: a u32 length whose top bits say
"still being written" (busy) and "discarded", then a u32 page offset we do
not need. Records are 8-byte aligned. A busy record ends the batch: the ones
after it may be complete, but the consumer must not step over it.
"""

from __future__ import annotations

import errno
import mmap
import os
import select
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

from bee_trace.bpf.libbpf import BPF_MAP_TYPE_RINGBUF
from bee_trace.errors import LoadError

if TYPE_CHECKING:
    from bee_trace.bpf.libbpf import BpfMap, EventBuffer, LostHandler

BUSY_BIT: Final = 1 << 31
DISCARD_BIT: Final = 1 << 30
RECORD_HEADER_SIZE: Final = 8
# producer_pos and consumer_pos are unsigned longs, in native byte order
_POS: Final = struct.Struct("@L")
_SIZE_MASK: Final = ~(BUSY_BIT | DISCARD_BIT) & 0xFFFFFFFF
# records taken in one batch at most: bounds memory and keeps flushes frequent.
# 2048 sustains the same rate as 8192 here, and under a flood twice that
# keeps peak RSS 9 MB lower (benchmarks: 49 MB instead of 58 MB)
MAX_BATCH: Final = 2048
# batches one poll hands over at most before it returns to its caller
POLL_BATCHES: Final = 16

BatchHandler = Callable[[list[bytes]], None]

# machines whose loads are not reordered with other loads (x86's TSO). There
# plain reads of the mapping see a record whole once its header says it is
# done; elsewhere (arm64) that takes the acquire loads libbpf's consumer has.
_ORDERED_LOADS: Final = frozenset({"x86_64", "amd64", "i386", "i686"})


def mapped_reads_ordered(machine: str) -> bool:
    """Whether :class:`MappedRingBuffer`'s plain loads are safe on this ``uname -m``."""
    return machine in _ORDERED_LOADS


class BatchEventBuffer(Protocol):
    """What the runtime needs of a consumer that delivers records in batches."""

    @property
    def lost(self) -> int:
        """Records the kernel could not hand over (perf buffers only; 0 otherwise)."""
        ...

    def add(self, bpf_map: BpfMap, handler: BatchHandler, on_lost: LostHandler | None) -> None:
        """Deliver the records of bpf_map to handler, in lists; report losses to on_lost."""
        ...

    def poll(self, timeout_ms: int) -> int:
        """Wait up to timeout_ms for records and deliver them; return how many."""
        ...

    def consume(self) -> int:
        """Deliver whatever is already in the buffers, without waiting."""
        ...

    def close(self) -> None:
        """Free the consumer. Safe to call twice."""
        ...


class RingView:
    """The records of one ring buffer, read from its consumer and producer/data pages.

    ``consumer`` is the writable page holding ``consumer_pos``; ``area`` is
    the producer page followed, at ``data_offset``, by the data area of
    ``size`` bytes (a power of two) mapped twice. Plain buffers work as well
    as mappings, which is how the tests build rings.
    """

    def __init__(
        self, consumer: mmap.mmap | bytearray, area: mmap.mmap | bytes, data_offset: int, size: int
    ) -> None:
        """Start from the consumer position the ring holds now."""
        if size <= 0 or size & (size - 1):
            msg = f"ring buffer data size {size} is not a power of two"
            raise ValueError(msg)
        # consumer_pos as one native unsigned long, stored in a single write:
        # struct.pack_into zero-fills its target before packing, and a kernel
        # that saw that passing 0 would take the ring for full and drop records
        self._consumer_pos = memoryview(consumer).cast("L")  # _POS.format: "@L"
        self._area = area
        # every record length, as native u32s: records start 8-byte aligned
        self._lengths = memoryview(area).cast("I")
        self._data = data_offset
        self._mask = size - 1
        self.position: int = self._consumer_pos[0]

    def take(self, limit: int = MAX_BATCH) -> list[bytes]:
        """Copy out up to limit records, skipping discarded ones, and release their space.

        Stops at the first record still being written. The consumer position
        is stored once, after the copies, so the kernel never reuses space
        that is still being read.
        """
        area, lengths, base, mask = self._area, self._lengths, self._data, self._mask
        busy, discard, size_mask = BUSY_BIT, DISCARD_BIT, _SIZE_MASK
        cons = self.position
        prod: int = _POS.unpack_from(area, 0)[0]
        records: list[bytes] = []
        append = records.append
        while cons < prod:
            at = base + (cons & mask)
            # records are 8-byte aligned: the length is one u32 of the lengths view
            length = lengths[at >> 2]
            if length & busy:
                break
            size = length & size_mask
            cons += (size + RECORD_HEADER_SIZE + 7) & ~7
            if not length & discard:
                start = at + RECORD_HEADER_SIZE
                append(area[start : start + size])
                if len(records) >= limit:
                    break
        if cons != self.position:
            # the kernel reads consumer_pos with smp_load_acquire; the copies
            # above are complete before this store is made
            self._consumer_pos[0] = cons
            self.position = cons
        return records

    def release(self) -> None:
        """Let go of the mappings, so they can be closed."""
        self._consumer_pos.release()
        self._lengths.release()


class _Ring:
    """One mapped ring buffer map and the handler of its records."""

    def __init__(self, bpf_map: BpfMap, handler: BatchHandler) -> None:
        fd = bpf_map.fd
        size = bpf_map.max_entries
        page = mmap.PAGESIZE
        self.fd = fd
        self.handler = handler
        self.consumer = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            self.area = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        except BaseException:
            self.consumer.close()
            raise
        self.view = RingView(self.consumer, self.area, page, size)

    def close(self) -> None:
        self.view.release()
        self.area.close()
        self.consumer.close()


class MappedRingBuffer:
    """Consumes BPF ring buffer maps from their memory mappings, one epoll set for all."""

    # a ring buffer loses nothing between kernel and consumer: a full buffer
    # fails bpf_ringbuf_output, which the kernel program counts
    lost = 0

    def __init__(self, batch: int = MAX_BATCH) -> None:
        """Start empty; add maps with :meth:`add`. ``batch`` caps records per handler call."""
        self._rings: list[_Ring] = []
        self._epoll: select.epoll | None = None
        self._batch = batch

    def add(
        self, bpf_map: BpfMap, handler: BatchHandler, on_lost: LostHandler | None = None
    ) -> None:
        """Deliver the records of bpf_map to handler, as lists of bytes."""
        del on_lost  # nothing is lost past the kernel program's own count
        if bpf_map.map_type != BPF_MAP_TYPE_RINGBUF:
            err = LoadError(f"cannot consume ring buffer {bpf_map.name}: not a ring buffer map")
            err.errno = errno.EINVAL
            raise err
        try:
            ring = _Ring(bpf_map, handler)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            err = LoadError(f"cannot map ring buffer {bpf_map.name}: {reason}")
            err.errno = exc.errno
            raise err from exc
        if self._epoll is None:
            self._epoll = select.epoll()
        self._epoll.register(ring.fd, select.EPOLLIN)
        self._rings.append(ring)

    def poll(self, timeout_ms: int) -> int:
        """Wait up to timeout_ms for records and deliver them; return how many.

        Waits only when the rings are empty, and returns after a bounded
        number of batches, so a flood cannot keep the caller from its other
        duties (stopping, aggregates).
        """
        if self._epoll is None:
            return 0
        got = self.consume_once()
        if got == 0:
            try:
                self._epoll.poll(timeout_ms / 1000)
            except OSError as exc:
                err = LoadError(f"ring buffer poll failed: {os.strerror(exc.errno or 0)}")
                err.errno = exc.errno
                raise err from exc
        for _ in range(POLL_BATCHES):
            batch = self.consume_once()
            got += batch
            if batch == 0:
                break
        return got

    def consume_once(self) -> int:
        """One batch from each ring; return how many records were delivered.

        A handler's error is raised after every ring had its batch handled:
        the records taken are gone from the ring, so each handler must count
        whatever it could not deliver.
        """
        delivered = 0
        failure: BaseException | None = None
        for ring in self._rings:
            records = ring.view.take(self._batch)
            if not records:
                continue
            delivered += len(records)
            try:
                ring.handler(records)
            except BaseException as exc:  # noqa: BLE001 - re-raised once every ring had its turn
                failure = failure or exc
        if failure is not None:
            raise failure
        return delivered

    def consume(self) -> int:
        """Deliver whatever is already in the buffers, without waiting."""
        total = 0
        while (got := self.consume_once()) > 0:
            total += got
        return total

    def close(self) -> None:
        """Unmap every ring and close the epoll set. Safe to call twice."""
        for ring in self._rings:
            ring.close()
        self._rings.clear()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None


class RecordBatcher:
    """A per-record consumer (the perf-buffer fallback) seen as a batch consumer.

    Records are gathered per map while the inner consumer runs, then each
    map's list goes to its handler in one call.
    """

    def __init__(self, inner: EventBuffer) -> None:
        """Wrap ``inner``, which calls a handler per record."""
        self._inner = inner
        self._pending: list[tuple[list[bytes], BatchHandler]] = []

    @property
    def lost(self) -> int:
        """What the inner consumer counts as lost."""
        return self._inner.lost

    def add(
        self, bpf_map: BpfMap, handler: BatchHandler, on_lost: LostHandler | None = None
    ) -> None:
        """Gather the records of bpf_map and deliver them to handler after each poll."""
        pending: list[bytes] = []
        self._pending.append((pending, handler))
        self._inner.add(bpf_map, pending.append, on_lost)

    def _hand_over(self, count: int) -> int:
        failure: BaseException | None = None
        for pending, handler in self._pending:
            if not pending:
                continue
            batch = pending[:]
            pending.clear()
            try:
                handler(batch)
            except BaseException as exc:  # noqa: BLE001 - re-raised once every map had its turn
                failure = failure or exc
        if failure is not None:
            raise failure
        return count

    def poll(self, timeout_ms: int) -> int:
        """Wait up to timeout_ms for records and deliver them; return how many."""
        return self._hand_over(self._inner.poll(timeout_ms))

    def consume(self) -> int:
        """Deliver whatever is already in the buffers, without waiting."""
        return self._hand_over(self._inner.consume())

    def close(self) -> None:
        """Free the inner consumer. Safe to call twice."""
        self._inner.close()
