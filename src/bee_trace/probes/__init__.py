"""The probe registry: probe type name -> implementation.

Adding a probe means one ``*.bpf.c`` program, one module here and one line in
:data:`PROBES`.
"""

from __future__ import annotations

from typing import Final

from bee_trace.probes.base import Probe, ProbeContext
from bee_trace.probes.file import FileProbe
from bee_trace.probes.memory import MemoryProbe
from bee_trace.probes.network import NetworkProbe

PROBES: Final[dict[str, type[Probe]]] = {
    FileProbe.name: FileProbe,
    NetworkProbe.name: NetworkProbe,
    MemoryProbe.name: MemoryProbe,
}

# every probe type the CLI knows, implemented or announced
PROBE_TYPES: Final = ("file_monitor", "network_monitor", "memory_monitor")

__all__ = ["PROBES", "PROBE_TYPES", "Probe", "ProbeContext"]
