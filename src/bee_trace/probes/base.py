"""What every probe provides to the runtime.

A probe is a vertical slice: one BPF object, one module here. The runtime
opens the object, lets the probe configure it, loads it, checks the record
mirrors against the object's BTF, lets the probe fill its maps, attaches the
programs and feeds the probe the records from its ring buffer.
"""

from __future__ import annotations

import importlib.resources
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bee_trace.bpf import BpfObject
    from bee_trace.events.model import Event
    from bee_trace.events.records import AnyHeader
    from bee_trace.policy import Policy


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What a probe knows besides the policy."""

    policy: Policy
    self_pid: int
    boot_to_utc_ns: int
    # --enforce: network enforcement on, whatever the policy says
    enforce: bool = False
    # the clock the kernel stamps events with; boot_to_utc_ns converts from it
    clock_id: int = time.CLOCK_BOOTTIME


def object_path(name: str) -> Path:
    """Where the build put a compiled BPF object inside the package."""
    ref = importlib.resources.files("bee_trace.kernel").joinpath(name)
    return Path(str(ref))


class Probe(ABC):
    """One probe type: its object, its configuration, its decoding."""

    name: ClassVar[str]
    object_name: ClassVar[str]
    event_kind: ClassVar[int]
    # struct name in the object's BTF -> ctypes mirror, checked after load
    records: ClassVar[dict[str, type]]
    # program -> further syscall tracepoints it serves (see attach)
    also_attach: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, ctx: ProbeContext) -> None:
        """Keep the context; nothing touches the kernel yet."""
        self.ctx = ctx

    @abstractmethod
    def configure(self, obj: BpfObject) -> None:
        """Set read-only globals and map sizes; called before load."""

    @abstractmethod
    def populate(self, obj: BpfObject) -> None:
        """Fill maps from the policy; called after load, before attach."""

    def programs(self, obj: BpfObject) -> list[str]:
        """Programs to attach: by default every program of the object."""
        return obj.program_names()

    def attach(self, obj: BpfObject) -> list[str]:
        """Attach the programs; return what was attached, for the log.

        A program named in :attr:`also_attach` is attached to those syscall
        tracepoints too, besides the one its section names: one program, one
        verification, several hooks.
        """
        names = self.programs(obj)
        for name in names:
            obj.attach(name)
        for name, events in self.also_attach.items():
            for event in events:
                obj.attach_tracepoint(name, "syscalls", event)
                names.append(f"{name}@{event}")
        return names

    def flush(self, obj: BpfObject, *, final: bool) -> Sequence[Event]:
        """Events held back in the kernel or here (aggregates) that are now due.

        Called periodically while running and once, with ``final``, after
        the programs are detached. Most probes hold nothing back.
        """
        del obj, final
        return []

    @abstractmethod
    def decode(self, header: AnyHeader, raw: bytes) -> Event | None:
        """Turn one record into an event, or None when user space filters it out."""
