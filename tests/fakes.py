"""Stand-ins shared by the tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from bee_trace.errors import OutputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bee_trace.bpf import BpfObject
    from bee_trace.events.model import Event


class Recorder:
    """An output that keeps events, and fails on the write numbered fail_at."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.events: list[Event] = []
        self.writes = 0
        self.batches = 0
        self.fail_at = fail_at
        self.abandoned = False

    def write(self, event: Event) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            msg = "output failed: test"
            raise OutputError(msg)
        self.events.append(event)

    def write_batch(self, events: Sequence[Event]) -> None:
        """Write one by one; a failure says how many of the batch went before it."""
        self.batches += 1
        for done, event in enumerate(events):
            try:
                self.write(event)
            except OutputError as exc:
                exc.written = done
                raise

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def busy_for(self) -> float:
        return 0.0

    def abandon(self) -> None:
        self.abandoned = True


class FakeMap:
    """A BPF map backed by a dict of raw bytes; updates are also kept in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: dict[bytes, bytes] = {}
        self.updates: list[tuple[bytes, bytes]] = []
        self.initial: bytes | None = None
        self.deleted: list[bytes] = []
        # keys listed but gone by the time they are looked up
        self.vanishing: set[bytes] = set()

    def set_initial_value(self, data: bytes) -> None:
        self.initial = data

    def update(self, key: bytes, value: bytes) -> None:
        self.entries[key] = value
        self.updates.append((key, value))

    def keys(self, key_size: int) -> list[bytes]:
        assert all(len(k) == key_size for k in self.entries)
        return [*self.entries, *self.vanishing]

    def lookup(self, key: bytes, value_size: int) -> bytes | None:
        value = self.entries.get(key)
        assert value is None or len(value) == value_size
        return value

    def delete(self, key: bytes) -> bool:
        self.deleted.append(key)
        return self.entries.pop(key, None) is not None


class FakeObject:
    """Just enough of BpfObject for a probe: maps, programs and their sections, attach calls.

    ``programs`` maps each program to its ELF section; a bare ``tracepoint``
    section is a tail-call stage, as in the real objects.
    """

    def __init__(self, programs: dict[str, str] | None = None) -> None:
        self.programs = programs or {}
        self.maps: dict[str, FakeMap] = {}
        self.autoload: dict[str, bool] = {}
        self.attached: list[str] = []
        self.also: list[tuple[str, str, str]] = []
        self.cgroup_attached: list[tuple[str, int]] = []

    def map(self, name: str) -> FakeMap:
        return self.maps.setdefault(name, FakeMap(name))

    def program_names(self) -> list[str]:
        return list(self.programs)

    def section(self, name: str) -> str:
        return self.programs[name]

    def set_autoload(self, name: str, *, enabled: bool) -> None:
        self.autoload[name] = enabled

    def attach(self, name: str) -> None:
        self.attached.append(name)

    def attach_tracepoint(self, name: str, category: str, event: str) -> None:
        self.also.append((name, category, event))

    def attach_cgroup(self, name: str, cgroup_fd: int) -> None:
        self.cgroup_attached.append((name, cgroup_fd))


def bpf(fake: FakeObject) -> BpfObject:
    """A fake object where a probe expects a BpfObject: it has what probes call."""
    return cast("BpfObject", fake)
