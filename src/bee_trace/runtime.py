"""The monitor: load and attach the probes, consume their events, stop cleanly.

Each probe's object goes through open, configure, load, BTF check, populate
and attach; all of them, or none: a failure part way detaches and closes what
was done. One consumer serves every probe: ring buffers where the kernel
has them (Linux 5.8), otherwise each object's perf-buffer build. Nothing is
pinned, so closing the objects leaves nothing behind in the kernel.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bee_trace.bpf import BpfObject, PerfBuffer, RingBuffer
from bee_trace.bpf.libbpf import detach_all, perf_pages_per_cpu, possible_cpus
from bee_trace.bpf.ringbuf import (
    BatchEventBuffer,
    MappedRingBuffer,
    RecordBatcher,
    mapped_reads_ordered,
)
from bee_trace.errors import BeeTraceError
from bee_trace.events.model import ProbeStats, RunSummary
from bee_trace.events.records import HEADER, Counter, RecordHeader, check_layout
from bee_trace.host.features import ring_buffer_missing
from bee_trace.probes.base import Probe, object_path

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from bee_trace.events.model import Event
    from bee_trace.outputs import Output

log = logging.getLogger(__name__)

# objects loaded at once (see Monitor._load_all)
_PARALLEL_LOADS = 2


def perfbuf_object(name: str) -> str:
    """The perf-buffer build of an object: ``x.bpf.o`` -> ``x.perfbuf.bpf.o``."""
    return name.removesuffix(".bpf.o") + ".perfbuf.bpf.o"


def output_drops(kernel_count: int, perf_lost: int) -> int:
    """Records a full output buffer lost, from the kernel's count and perf's.

    Every failed output is counted by the kernel program, and a perf buffer
    later reports the same losses as lost samples, so the two are not added:
    the larger is taken. Perf's figure lags (it arrives with the next record
    that fits) and the kernel's also covers failures perf does not see.
    """
    return max(kernel_count, perf_lost)


@dataclass(slots=True)
class _Loaded:
    probe: Probe
    obj: BpfObject
    delivered: int = 0
    malformed: int = 0
    undelivered: int = 0
    # samples a full perf buffer lost, as perf reports them (fallback only)
    perf_lost: int = 0
    kernel_drops: dict[Counter, int] = field(default_factory=dict)
    is_loaded: bool = False
    closed: bool = False


class Monitor:
    """Runs a set of probes and writes their events to one output."""

    def __init__(self, probes: list[Probe], output: Output) -> None:
        """Nothing is loaded until :meth:`start`."""
        self._probes = probes
        self._output = output
        self._loaded: list[_Loaded] = []
        self._ring: BatchEventBuffer = MappedRingBuffer()
        self.perf_buffer = False
        self._started_at = 0.0
        self.started = False
        self._output_failed = False
        # an output failure met while stopping, for the caller to report
        self.failure: BeeTraceError | None = None

    def start(self) -> None:
        """Load and attach every probe, or none."""
        self._started_at = time.monotonic()
        try:
            if self._probes:
                self._choose_transport()
            self._plan_handoffs()
            for probe in self._probes:
                self._open_probe(probe)
            self._load_all()
            for loaded in self._loaded:
                self._attach_probe(loaded)
            self._chain_handoffs()
        except BaseException:
            self.close()
            raise
        self.started = True

    def _plan_handoffs(self) -> None:
        """Let the probe that accepts open handoffs serve the others' opens (see Probe)."""
        hub = next((p for p in self._probes if p.accepts_open_handoffs), None)
        if hub is None:
            return
        for probe in self._probes:
            if probe is hub or probe.open_handoff is None:
                continue
            if any(p.handed_off for p in self._probes):
                msg = "only one probe can take opens handed over by file_monitor"
                raise BeeTraceError(msg)
            probe.handed_off = True
            hub.handoff_names += probe.open_handoff[1]

    def _chain_handoffs(self) -> None:
        """Put each handed-off probe's exit program where the hub's program calls it."""
        hub = next((x for x in self._loaded if x.probe.accepts_open_handoffs), None)
        for loaded in self._loaded:
            handoff = loaded.probe.open_handoff
            if hub is None or not loaded.probe.handed_off or handoff is None:
                continue
            fd = loaded.obj.program_fd(handoff[0])
            hub.obj.map("open_exit_chain").update(struct.pack("<I", 0), struct.pack("<I", fd))
            log.debug("%s hands %s opens to %s", hub.probe.name, handoff[1], loaded.probe.name)

    def _choose_transport(self) -> None:
        why = ring_buffer_missing(os.environ)
        self.perf_buffer = why is not None
        if why is None:
            if not mapped_reads_ordered(platform.machine()):
                # libbpf's consumer has the barriers a weakly ordered CPU needs
                self._ring = RecordBatcher(RingBuffer())
            log.info("events go through BPF ring buffers")
            return
        # the perf-buffer build stamps events with CLOCK_MONOTONIC (see now_ns)
        offset = time.time_ns() - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for probe in self._probes:
            probe.ctx = dataclasses.replace(
                probe.ctx, clock_id=time.CLOCK_MONOTONIC, boot_to_utc_ns=offset
            )
        limit = self._probes[0].ctx.policy.limits.ring_buffer_bytes
        pages = perf_pages_per_cpu(limit, possible_cpus(), os.sysconf("SC_PAGE_SIZE"))
        self._ring = RecordBatcher(PerfBuffer(pages))
        log.warning("events go through perf buffers (%d pages per CPU): %s", pages, why)

    def _open_probe(self, probe: Probe) -> None:
        """Open a probe's object and let the probe configure it."""
        name = probe.object_name
        obj = BpfObject(object_path(perfbuf_object(name) if self.perf_buffer else name))
        loaded = _Loaded(probe, obj)
        self._loaded.append(loaded)
        if not self.perf_buffer:
            obj.map("events").set_max_entries(probe.ctx.policy.limits.ring_buffer_bytes)
        probe.configure(obj)

    def _load_all(self) -> None:
        """Load every object at once; raise the first failure, in probe order.

        Most of start-up is libbpf reading the kernel's BTF and the verifier
        checking programs, once per object and each on its own. Two at a
        time: file_monitor, the slowest, beside the others in turn, takes
        about as long as all three at once, and each load in flight holds
        its own copy of the kernel's BTF (about 5 MB of peak memory).
        """
        with ThreadPoolExecutor(max_workers=_PARALLEL_LOADS) as pool:
            done = [pool.submit(loaded.obj.load) for loaded in self._loaded]
        failures = []
        for loaded, future in zip(self._loaded, done, strict=True):
            error = future.exception()
            if error is None:
                loaded.is_loaded = True
            else:
                failures.append(error)
        if failures:
            raise failures[0]

    def _attach_probe(self, loaded: _Loaded) -> None:
        """Check the loaded object's records, fill its maps, consume and attach it."""
        probe, obj = loaded.probe, loaded.obj
        for struct_name, mirror in probe.records.items():
            check_layout(obj.struct_layout(struct_name), mirror)
        probe.populate(obj)
        self._ring.add(obj.map("events"), self._handler(loaded), self._on_lost(loaded))
        attached = probe.attach(obj)
        log.debug("probe %s attached: %s", probe.name, ", ".join(attached))

    def _handler(self, loaded: _Loaded) -> Callable[[list[bytes]], None]:
        """Decode a batch of one probe's records and deliver its events in one write.

        A record shorter than the header, of another probe's kind or that the
        probe cannot decode is counted as malformed; one the probe refines
        away is no event at all.
        """
        header_size = HEADER.size
        unpack = HEADER.unpack_from
        make_header = RecordHeader._make
        kind_wanted = loaded.probe.event_kind
        decode = loaded.probe.decode

        def handle(records: list[bytes]) -> None:
            events: list[Event] = []
            for raw in records:
                if len(raw) < header_size:
                    loaded.malformed += 1
                    continue
                header = make_header(unpack(raw))
                if header.kind != kind_wanted:
                    loaded.malformed += 1
                    continue
                try:
                    event = decode(header, raw)
                except (ValueError, KeyError):
                    log.debug("probe %s: malformed record", loaded.probe.name, exc_info=True)
                    loaded.malformed += 1
                    continue
                if event is not None:  # None: user space refined it away, not an event
                    events.append(event)
            if events:
                self._deliver(loaded, events)

        return handle

    @staticmethod
    def _on_lost(loaded: _Loaded) -> Callable[[int], None]:
        def lost(count: int) -> None:
            loaded.perf_lost += count

        return lost

    def _deliver(self, loaded: _Loaded, events: Sequence[Event]) -> None:
        """Write a batch of events; count each one written, or not written."""
        if self._output_failed:
            loaded.undelivered += len(events)
            return
        try:
            self._output.write_batch(events)
        except BeeTraceError as exc:
            # counted, and from now on every event is: none is lost unseen
            self._output_failed = True
            written = getattr(exc, "written", 0)
            loaded.delivered += written
            loaded.undelivered += len(events) - written
            raise
        loaded.delivered += len(events)

    def flush(self, *, final: bool = False) -> None:
        """Deliver what probes held back (aggregates) and is now due."""
        for loaded in self._loaded:
            if loaded.closed or not loaded.is_loaded:
                continue
            events = loaded.probe.flush(loaded.obj, final=final)
            if events:
                self._deliver(loaded, events)

    def poll(self, timeout_ms: int) -> int:
        """Deliver what arrives within timeout_ms; return how many records."""
        return self._ring.poll(timeout_ms)

    def drain(self) -> None:
        """Deliver everything already in the ring buffers."""
        while self._ring.consume() > 0:
            pass

    @staticmethod
    def _read_counters(loaded: _Loaded) -> None:
        if loaded.closed or not loaded.is_loaded:
            return
        counters = loaded.obj.map("counters")
        ncpu = possible_cpus()
        for counter in Counter:
            raw = counters.lookup(struct.pack("<I", counter), 8 * ncpu)
            loaded.kernel_drops[counter] = sum(struct.unpack(f"<{ncpu}Q", raw)) if raw else 0

    def stats(self) -> list[ProbeStats]:
        """Events delivered and dropped so far, per probe."""
        out: list[ProbeStats] = []
        for loaded in self._loaded:
            self._read_counters(loaded)
            k = loaded.kernel_drops
            lost = output_drops(k.get(Counter.DROP_RINGBUF, 0), loaded.perf_lost)
            lost += k.get(Counter.DROP_PENDING_FULL, 0) + k.get(Counter.DROP_UNREADABLE, 0)
            out.append(
                ProbeStats(
                    probe=loaded.probe.name,
                    events=loaded.delivered,
                    dropped=lost + loaded.malformed + loaded.undelivered,
                )
            )
        return out

    def summary(self) -> RunSummary:
        """The run's summary: duration and per-probe counts."""
        return RunSummary(
            duration_s=time.monotonic() - self._started_at, probes=tuple(self.stats())
        )

    def stop(self) -> RunSummary:
        """Detach, deliver what is left, count, then unload everything."""
        # every probe's links at once: each detach waits for a grace period
        detach_all([link for loaded in self._loaded for link in loaded.obj.links])
        for loaded in self._loaded:
            loaded.obj.detach()
        try:
            self.drain()
            self.flush(final=True)
        except BeeTraceError as exc:
            # the output failed or stalled: count what is left instead
            self.failure = exc
            self._output.abandon()
            self.drain()
            self.flush(final=True)
        result = self.summary()
        self.close()
        return result

    def close(self) -> None:
        """Free the consumer and unload every object. Safe to call twice."""
        self._ring.close()
        for loaded in self._loaded:
            if not loaded.closed:
                self._read_counters(loaded)
                loaded.obj.close()
                loaded.closed = True


def run_until(
    monitor: Monitor,
    stop: threading.Event,
    deadline: float | None,
    tick: Callable[[], None] | None = None,
    tick_every_s: float = 0.0,
) -> None:
    """Poll until stop is set or the monotonic deadline passes."""
    next_tick = time.monotonic() + tick_every_s
    while not stop.is_set():
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        monitor.poll(100)
        monitor.flush()
        if tick is not None and tick_every_s > 0 and time.monotonic() >= next_tick:
            tick()
            next_tick = time.monotonic() + tick_every_s
