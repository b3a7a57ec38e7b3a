"""Stand-ins shared by the tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bee_trace.errors import OutputError

if TYPE_CHECKING:
    from collections.abc import Sequence

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
