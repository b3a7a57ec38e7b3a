"""Outputs: where decoded events go, in which format.

An output takes :class:`~bee_trace.events.model.Event` objects and knows
nothing of the kernel. :func:`open_output` is the one way in; the formats
live in :mod:`~bee_trace.outputs.text` and :mod:`~bee_trace.outputs.jsonl`.
Lines are written as UTF-8 whatever the locale. The runtime hands over the
events of each ring-buffer batch together; they are written in one write and
flushed at once, so a reader (``tail -f``, a pipe into ``jq``) sees each
event as soon as the batch it came with is decoded.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, BinaryIO, Protocol, TextIO

from bee_trace.errors import OutputError, UsageError
from bee_trace.outputs import jsonl, text

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Callable, Sequence

    from bee_trace.events.model import Event

__all__ = ["FORMATS", "LineOutput", "Output", "open_output"]

FORMATS = ("text", "json")

_FORMATTERS: dict[str, Callable[[Event], str]] = {
    "text": text.format_event,
    "json": jsonl.format_event,
}
# formats that render a batch faster than line by line
_BATCH_FORMATTERS: dict[str, Callable[[Sequence[Event]], str]] = {
    "json": jsonl.format_lines,
}

STDOUT_NAME = "<stdout>"


class Output(Protocol):
    """Where events go: a sink that renders each event in one format."""

    def write(self, event: Event) -> None:
        """Render one event and write it; raise OutputError if it cannot be written."""

    def write_batch(self, events: Sequence[Event]) -> None:
        """Render events and write them together, then flush.

        On failure raise OutputError whose ``written`` says how many of the
        events, from the first, are known to be written in full.
        """

    def flush(self) -> None:
        """Push anything buffered to the file or pipe."""

    def close(self) -> None:
        """Flush and release the output; stdout is flushed but left open."""

    def busy_for(self) -> float:
        """Seconds the write in progress has taken so far (0 when none is)."""

    def abandon(self) -> None:
        """Give up on an output nobody reads: no further write, no flush."""


class ByteStream(Protocol):
    """The part of a binary file an output uses."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``; return how many bytes were taken."""
        ...

    def flush(self) -> None:
        """Push buffered bytes to the file or pipe."""
        ...

    def close(self) -> None:
        """Flush and release the file."""
        ...


class _TextStreamBytes:
    """A text stream seen as a byte stream, for a stdout that has no byte layer."""

    def __init__(self, stream: TextIO) -> None:
        """Wrap ``stream``; bytes written are UTF-8 and decoded back before writing."""
        self._stream = stream

    def write(self, data: bytes, /) -> int:
        """Decode ``data`` as UTF-8 and write it as text."""
        self._stream.write(data.decode("utf-8"))
        return len(data)

    def flush(self) -> None:
        """Flush the text stream."""
        self._stream.flush()

    def close(self) -> None:
        """Leave the text stream open; it belongs to someone else."""
        self._stream.flush()


class LineOutput:
    """An output that writes one formatted line per event to a byte stream."""

    def __init__(
        self,
        format_line: Callable[[Event], str],
        stream: ByteStream,
        name: str,
        *,
        owned: bool,
        format_lines: Callable[[Sequence[Event]], str] | None = None,
    ) -> None:
        """Write lines made by ``format_line`` to ``stream``; close it on close if ``owned``.

        ``format_lines``, if given, renders a whole batch (each line ended by
        a line break) as ``format_line`` would, only faster.
        """
        self._format_line = format_line
        self._format_lines = format_lines or self._line_by_line
        self._stream = stream
        self._name = name
        self._owned = owned
        self._closed = False
        self._busy_since: float | None = None

    def busy_for(self) -> float:
        """Seconds the write in progress has taken so far (0 when none is)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def abandon(self) -> None:
        """Give up on an output nobody reads.

        The descriptor is pointed at /dev/null, so neither this nor Python's
        own flush at exit blocks again on a reader that does not read.
        """
        self._closed = True
        fileno = getattr(self._stream, "fileno", None)
        if fileno is None:
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fileno())
            os.close(devnull)
        except (OSError, ValueError):
            return

    def write(self, event: Event) -> None:
        """Render ``event`` as one line, write it and flush it."""
        self.write_batch((event,))

    def write_batch(self, events: Sequence[Event]) -> None:
        """Render events as lines, write them in one write and flush once.

        If the write fails, the OutputError says none was written: a buffered
        stream cannot tell how much of the batch reached the file, and an
        event is never counted as written unless it is known to be.
        """
        if self._closed:
            msg = f"output {self._name} is closed"
            raise ValueError(msg)
        data = self._format_lines(events).encode("utf-8")
        self._busy_since = time.monotonic()
        try:
            self._stream.write(data)
            self._stream.flush()
        except OSError as exc:
            raise self._error(exc) from exc
        finally:
            self._busy_since = None

    def _line_by_line(self, events: Sequence[Event]) -> str:
        """Render a batch with ``format_line``, a line break after each line."""
        fmt = self._format_line
        return "".join([fmt(event) + "\n" for event in events])

    def flush(self) -> None:
        """Flush the stream; a failure raises OutputError."""
        if not self._closed:
            self._guard(self._stream.flush)

    def close(self) -> None:
        """Flush, then close the stream if this output opened it. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self._owned:
            self._guard(self._stream.close)
        else:
            self._guard(self._stream.flush)

    def _guard(self, step: Callable[[], object]) -> None:
        """Run one write step, turning an OSError (EPIPE, ENOSPC, EIO) into OutputError."""
        try:
            step()
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> OutputError:
        """The OutputError for a failed write step; a gone stdout reader is silenced."""
        if isinstance(exc, BrokenPipeError) and not self._owned:
            _silence_stdout()
        reason = exc.strerror or str(exc)
        return OutputError(f"cannot write output {self._name}: {reason}")


def _silence_stdout() -> None:
    """Point stdout at /dev/null after its reader has gone.

    Without this, Python's own flush of stdout at exit fails again on the
    broken pipe and prints a second complaint after bee-trace's error line.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        # no real file descriptor behind stdout (tests, embedding): nothing to silence
        pass


def _stdout_bytes() -> ByteStream:
    """Return the byte layer of the current stdout, so lines are UTF-8 in any locale."""
    stdout = sys.stdout
    buffer: ByteStream | None = getattr(stdout, "buffer", None)
    if buffer is None:
        # replaced by a plain text stream (io.StringIO, redirect_stdout)
        return _TextStreamBytes(stdout)
    # events go to the byte layer from now on; flush what the text layer holds first
    stdout.flush()
    return buffer


def open_output(fmt: str, path: pathlib.Path | None) -> Output:
    """Open an output of format ``fmt`` (one of :data:`FORMATS`).

    ``path`` None writes to stdout, which close leaves open; a path is opened
    for append and created if missing. A path that cannot be opened raises
    OutputError naming it and the reason.
    """
    format_line = _FORMATTERS.get(fmt)
    if format_line is None:
        msg = f"unknown output format {fmt!r}; choose one of: {', '.join(FORMATS)}"
        raise UsageError(msg)

    format_lines = _BATCH_FORMATTERS.get(fmt)
    if path is None:
        stdout = _stdout_bytes()
        return LineOutput(format_line, stdout, STDOUT_NAME, owned=False, format_lines=format_lines)

    try:
        stream = path.open("ab")
        _end_partial_line(path, stream)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        msg = f"cannot open output {path}: {reason}"
        raise OutputError(msg) from exc
    return LineOutput(format_line, stream, str(path), owned=True, format_lines=format_lines)


def _end_partial_line(path: pathlib.Path, stream: BinaryIO) -> None:
    """Start on a new line if an earlier run was cut off mid-line (disk full).

    The fragment stays, but the next event is not glued onto it: one bad
    line for a JSON Lines reader to skip, not two.
    """
    if stream.tell() == 0:
        return
    try:
        with path.open("rb") as reader:
            reader.seek(-1, os.SEEK_END)
            last = reader.read(1)
    except OSError:
        return  # not readable (a FIFO, a write-only file): nothing to check
    if last != b"\n":
        stream.write(b"\n")
        stream.flush()
