"""What every probe provides to the runtime.

A probe is a vertical slice: one BPF object, one module here. The runtime
opens the object, lets the probe configure it, loads it, checks the record
mirrors against the object's BTF, lets the probe fill its maps, attaches the
programs and feeds the probe the records from its ring buffer.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from bee_trace.host.features import task_regs_missing

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bee_trace.bpf import BpfObject
    from bee_trace.events.model import Event
    from bee_trace.events.records import AnyHeader
    from bee_trace.policy import Policy

log = logging.getLogger(__name__)


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
    # (program, file names): this probe's exit program for the opens of files
    # with these names. With file_monitor running, that probe's exit program
    # hands such opens over by a tail call and this program is not attached:
    # a second program on every open costs far more than a tail call.
    open_handoff: ClassVar[tuple[str, tuple[bytes, ...]] | None] = None
    # programs at syscall entry that keep a call's arguments for its exit
    # program. Needed only where the kernel has no bpf_task_pt_regs (5.15):
    # elsewhere the exit program reads them, and these are not even loaded,
    # since any program at syscall entry slows every system call on the host.
    entry_programs: ClassVar[tuple[str, ...]] = ()
    # this probe's exit program hands opens over (file_monitor): through its
    # one-slot program array open_exit_chain, so to one other probe at most
    accepts_open_handoffs: ClassVar[bool] = False

    def __init__(self, ctx: ProbeContext) -> None:
        """Keep the context; nothing touches the kernel yet."""
        self.ctx = ctx
        # set by the runtime when another probe hands this one its opens
        self.handed_off = False
        # set by the runtime: names whose opens this probe hands over
        self.handoff_names: tuple[bytes, ...] = ()
        # set by choose_arg_source: exit programs read the call's arguments
        self.args_at_exit = False

    def choose_arg_source(self, obj: BpfObject) -> bool:
        """Decide, before load, where exit programs get a call's arguments.

        Returns True when they read them from the task's registers; the
        entry programs are then left out of the object.
        """
        why = task_regs_missing(os.environ)
        self.args_at_exit = why is None
        for name in self.entry_programs:
            obj.set_autoload(name, enabled=not self.args_at_exit)
        if why is not None and self.entry_programs:
            log.info("%s: entry programs keep each call's arguments: %s", self.name, why)
        return self.args_at_exit

    @abstractmethod
    def configure(self, obj: BpfObject) -> None:
        """Set read-only globals and map sizes; called before load."""

    @abstractmethod
    def populate(self, obj: BpfObject) -> None:
        """Fill maps from the policy; called after load, before attach."""

    def programs(self, obj: BpfObject) -> list[str]:
        """Programs to attach: by default every program of the object.

        A program another probe hands opens to (:attr:`open_handoff`) is
        loaded but not attached, and so is a program whose section names no
        hook (a bare ``tracepoint``): a stage its object reaches by tail call.
        """
        names = [n for n in obj.program_names() if "/" in obj.section(n)]
        if self.args_at_exit:
            names = [n for n in names if n not in self.entry_programs]
        if self.handed_off and self.open_handoff is not None:
            names = [n for n in names if n != self.open_handoff[0]]
        return names

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
            if name not in names:
                continue
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
