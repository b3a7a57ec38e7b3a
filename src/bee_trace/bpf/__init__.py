"""The libbpf binding: the only part of bee-trace that speaks ctypes."""

from bee_trace.bpf.libbpf import (
    BpfLink,
    BpfMap,
    BpfObject,
    EventBuffer,
    PerfBuffer,
    RingBuffer,
    StructLayout,
)

__all__ = [
    "BpfLink",
    "BpfMap",
    "BpfObject",
    "EventBuffer",
    "PerfBuffer",
    "RingBuffer",
    "StructLayout",
]
