"""Text and JSON Lines outputs, flag and errno rendering, the schema, and the run summary."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import bee_trace.outputs as outputs_pkg
from bee_trace.errors import OutputError, UsageError
from bee_trace.events.model import (
    Event,
    FileAccessEvent,
    ProbeStats,
    ProcessInfo,
    RunSummary,
)
from bee_trace.outputs import FORMATS, LineOutput, jsonl, open_output, text
from bee_trace.outputs.render import (
    errno_name,
    flag_name_list,
    flag_names,
    format_timestamp,
    result_name,
)
from bee_trace.outputs.summary import format_progress, format_summary
from tests.unit.builders import O_CLOEXEC, WHEN, memory_event, network_event
from tests.unit.builders import file_event as make_event

if TYPE_CHECKING:
    import jsonschema


# -- open flags --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "name"),
    [
        (0o100, "O_CREAT"),
        (0o200, "O_EXCL"),
        (0o400, "O_NOCTTY"),
        (0o1000, "O_TRUNC"),
        (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"),
        (0o10000, "O_DSYNC"),
        (0o20000, "FASYNC"),
        (0o40000, "O_DIRECT"),
        (0o100000, "O_LARGEFILE"),
        (0o200000, "O_DIRECTORY"),
        (0o400000, "O_NOFOLLOW"),
        (0o1000000, "O_NOATIME"),
        (0o2000000, "O_CLOEXEC"),
        (0o4010000, "O_SYNC"),
        (0o10000000, "O_PATH"),
        (0o20200000, "O_TMPFILE"),
    ],
)
def test_each_flag_has_its_name(flags: int, name: str) -> None:
    assert flag_name_list(flags) == ["O_RDONLY", name]
    assert flag_names(flags | 2) == f"O_RDWR|{name}"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (0, "O_RDONLY"),
        (1, "O_WRONLY"),
        (2, "O_RDWR"),
        (3, "0x3"),
        (0o2000000, "O_RDONLY|O_CLOEXEC"),
        (0o1 | 0o100 | 0o1000 | 0o2000000, "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"),
        (0o2 | 0o200 | 0o100, "O_RDWR|O_CREAT|O_EXCL"),
        (0o4000000, "O_RDONLY|0x100000"),  # __O_SYNC without O_DSYNC
        (0o20000000, "O_RDONLY|0x400000"),  # __O_TMPFILE without O_DIRECTORY
        (0o4010000 | 0o2000000, "O_RDONLY|O_CLOEXEC|O_SYNC"),
        (0o20200000 | 0o2, "O_RDWR|O_TMPFILE"),
        (0o3 | 0o100, "O_CREAT|0x3"),
        (1 << 31, "O_RDONLY|0x80000000"),
        (0o10000000 | 0o400000 | 0o2000000, "O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_PATH"),
    ],
)
def test_flag_combinations(flags: int, expected: str) -> None:
    assert flag_names(flags) == expected


# -- results -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (3, "3"),
        (0, "0"),
        (-errno.ENOENT, "ENOENT"),
        (-errno.EACCES, "EACCES"),
        (-errno.EPERM, "EPERM"),
        (-errno.ELOOP, "ELOOP"),
        (-35, "EDEADLK"),
        (-95, "EOPNOTSUPP"),
        (-4095, "E4095"),
    ],
)
def test_result_names(result: int, expected: str) -> None:
    assert result_name(result) == expected


def test_errno_name_of_unknown_number() -> None:
    assert errno_name(999) == "E999"


def test_timestamp_is_utc_with_microseconds() -> None:
    assert format_timestamp(WHEN) == "2026-12-04T15:30:01.123456Z"
    plus_two = WHEN.astimezone(timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2026-12-04T15:30:01.123456Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000000Z"  # noqa: DTZ001


# -- text --------------------------------------------------------------------------------


def test_text_line_failed_unresolved_open() -> None:
    event = make_event(result=-errno.ENOENT, resolved=False, path=b"missing/id_rsa", flags=0)
    line = text.format_event(event)
    assert " path=missing/id_rsa resolved=false flags=O_RDONLY result=ENOENT rule=id_rsa" in line


def test_text_line_quotes_and_escapes_fields() -> None:
    event = make_event(
        comm=b"my tool",
        path=b'/srv/a=b "c"\n\x1b[2J\xff',
        rule="*.key files",
    )
    line = text.format_event(event)
    assert 'comm="my tool"' in line
    assert 'path="/srv/a=b \\"c\\"\\n\\x1b[2J\\xff"' in line
    assert 'rule="*.key files"' in line


def test_text_line_cannot_be_forged() -> None:
    forged = make_event(
        path=b"/x\nEvent: File access time=2026-12-04T15:30:01.123456Z pid=1 path=/etc/shadow",
        comm=b"\r\x1b[1A",
    )
    line = text.format_event(forged)
    assert len(line.splitlines()) == 1
    assert "\x1b" not in line
    assert "\r" not in line
    assert line.count("Event:") == 2  # the forged one stays inside the path value
    assert line.startswith("Event: File access time=2026-12-04T15:30:01.123456Z pid=1234 ")


# -- JSON --------------------------------------------------------------------------------


def test_json_failed_open(validator: jsonschema.Draft202012Validator) -> None:
    record = json.loads(jsonl.format_event(make_event(result=-errno.EACCES, resolved=False)))
    assert record["result"] == -errno.EACCES
    assert record["result_name"] == "EACCES"
    assert record["resolved"] is False
    validator.validate(record)


def test_json_non_utf8_and_control_characters(validator: jsonschema.Draft202012Validator) -> None:
    path = b"/srv/\xff\xfe\n\x1b[31m\\x\xc2\x9b\xe2\x80\xa8\xe2\x80\xae.key"
    line = jsonl.format_event(make_event(path=path, comm=b"ev\til\x00"))
    assert len(line.splitlines()) == 1
    for raw in ("\n", "\x1b", "\x9b", "\u2028", "\u202e", "\x00"):
        assert raw not in line
    line.encode("utf-8")  # no stray surrogate
    record = json.loads(line)
    validator.validate(record)
    assert record["path"] == "/srv/\\xff\\xfe\n\x1b[31m\\\\x\x9b\u2028\u202e.key"
    assert record["comm"] == "ev\til\x00"


def test_json_text_fields_with_lone_surrogates_stay_encodable(
    validator: jsonschema.Draft202012Validator,
) -> None:
    line = jsonl.format_event(make_event(rule="bad\udcffrule"))
    line.encode("utf-8")
    validator.validate(json.loads(line))


HOSTILE_BYTES = [
    b"/home/u/.ssh/id_rsa",
    b"",
    b"/srv/\xff\xfe\n\x1b[31m\\x\xc2\x9b\xe2\x80\xa8\xe2\x80\xae.key",
    b"/tmp/\x00\x01\x7f\x80\xc3\x28\xed\xa0\x80",
    "/srv/\u65e5\u672c/caf\u00e9/\U0001f41d/\u200f\u2066x\u2069".encode(),
    b'/q/"quoted"/back\\slash/\t\r',
    b"/long/" + b"a\xe2\x80\xae" * 300,
]
WHENS = [
    WHEN,
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2026, 12, 4, 15, 30, 1, 0, tzinfo=UTC),
    datetime(2026, 12, 4, 15, 30, 1, 999999, tzinfo=UTC),
    datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC, microsecond=0),
    datetime.min.replace(tzinfo=UTC),
    datetime(2026, 12, 4, 15, 30, 2, tzinfo=UTC),
    datetime(2026, 12, 4, 15, 30, 1, 999999, tzinfo=UTC),
    datetime(2026, 12, 4, 17, 30, 1, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 12, 4, 15, 30, 1, 5),  # noqa: DTZ001 - naive: taken as UTC
]


def varied_events() -> list[FileAccessEvent]:
    """File accesses over hostile names, odd flags, results and times, some repeated."""
    shared = ProcessInfo(pid=7, tid=8, ppid=1, uid=0, comm=b"\x1bev\xffil")
    events = [make_event(path=path, comm=comm) for path in HOSTILE_BYTES for comm in HOSTILE_BYTES]
    events += [make_event(timestamp=when) for when in WHENS]
    events += [
        make_event(flags=flags, result=result, resolved=resolved, syscall=syscall)
        for flags in (0, 1, 2, 3, O_CLOEXEC | 0o100, 0o20200000, 1 << 40, -1)
        for result in (3, 0, -errno.EACCES, -errno.ENOENT, -9999)
        for resolved in (True, False)
        for syscall in ("openat", "open_by_handle_at")
    ]
    events += [
        make_event(rule=rule, pid=pid, tid=pid + 1, uid=2**32 - 1)
        for rule in ("id_rsa", "*.key", "bad\udcffrule", '\u202e\n"r\\', "")
        for pid in (1, 2**31)
    ]
    # one process object shared by several events, as decoding shares it
    events += [dataclasses.replace(make_event(path=path), process=shared) for path in HOSTILE_BYTES]
    return events


def test_the_json_fast_path_writes_the_reference_bytes(
    validator: jsonschema.Draft202012Validator,
) -> None:
    # twice: once filling the caches, once from them
    for _ in range(2):
        for event in varied_events():
            line = jsonl.format_event(event)
            assert line.encode("utf-8") == jsonl.format_generic(event).encode("utf-8")
            assert len(line.splitlines()) == 1
    validator.validate(json.loads(jsonl.format_event(varied_events()[2])))


def test_a_batch_of_mixed_events_renders_as_its_lines(tmp_path: Path) -> None:
    batch: list[Event] = [make_event(), network_event(), *varied_events()[:5], memory_event()]
    expected = "".join(jsonl.format_generic(event) + "\n" for event in batch)
    assert jsonl.format_lines(batch) == expected
    assert jsonl.format_lines([]) == ""
    output = open_output("json", tmp_path / "x.jsonl")
    output.write_batch(batch)
    output.close()
    assert (tmp_path / "x.jsonl").read_text(encoding="utf-8") == expected


def test_the_json_caches_stay_bounded() -> None:
    for i in range(3000):
        event = make_event(path=f"/p/{i}".encode(), pid=i, flags=i, result=-i)
        assert jsonl.format_event(event) == jsonl.format_generic(event)
    caches = (jsonl._process_pieces, jsonl._access_pieces)  # noqa: SLF001
    assert all(len(cache) <= jsonl._CACHE_MAX for cache in caches)  # noqa: SLF001


def test_a_process_piece_is_not_taken_for_another_process_with_its_id() -> None:
    first = make_event(pid=1)
    assert '"pid":1,' in jsonl.format_event(first)
    del first
    # whatever object now has the old id, its own values are written
    for pid in range(2, 50):
        assert f'"pid":{pid},' in jsonl.format_event(make_event(pid=pid))


def test_every_flag_combination_validates(validator: jsonschema.Draft202012Validator) -> None:
    for flags in (0, 1, 2, 3, 0o20200000, 0o4010000, 1 << 40):
        validator.validate(json.loads(jsonl.format_event(make_event(flags=flags))))


# -- opening and writing -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_to_file_appends_lines(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "events.log"
    target.write_bytes(b"earlier\n")
    output = open_output(fmt, target)
    output.write(make_event())
    output.write(make_event(path="/srv/caf\u00e9".encode()))
    # each line reaches the file as it is written, not on close
    assert len(target.read_bytes().splitlines()) == 3
    output.close()
    output.close()
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "earlier"
    assert lines[1] == (text.format_event if fmt == "text" else jsonl.format_event)(make_event())
    assert "caf\u00e9" in lines[2]


def test_output_to_new_file(tmp_path: Path) -> None:
    target = tmp_path / "new.jsonl"
    with_output = open_output("json", target)
    with_output.write(make_event())
    with_output.close()
    assert target.read_text(encoding="utf-8").count("\n") == 1


def test_open_under_missing_directory_fails(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "events.log"
    with pytest.raises(OutputError) as info:
        open_output("text", target)
    assert str(info.value) == f"cannot open output {target}: No such file or directory"
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_open_a_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="Is a directory"):
        open_output("json", tmp_path)


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown output format 'xml'"):
        open_output("xml", None)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_device_raises_output_error() -> None:
    output = open_output("text", Path("/dev/full"))
    with pytest.raises(OutputError) as info:
        output.write(make_event())
    assert str(info.value) == "cannot write output /dev/full: No space left on device"
    with pytest.raises(OutputError):
        output.close()


def test_stdout_is_not_closed(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    output = open_output("json", None)
    output.write(make_event())
    output.flush()
    output.close()
    assert not sys.stdout.closed
    assert not sys.stdout.buffer.closed
    sys.stdout.write("still open\n")
    out = capsysbinary.readouterr().out
    assert out.splitlines()[0] == jsonl.format_event(make_event()).encode()
    assert out.endswith(b"still open\n")


def test_stdout_bytes_are_utf8_in_any_locale(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    output = open_output("text", None)
    output.write(make_event(path="/srv/\u65e5\u672c".encode()))
    output.close()
    assert "path=/srv/\u65e5\u672c ".encode() in capsysbinary.readouterr().out


def test_stdout_without_byte_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replaced)
    output = open_output("text", None)
    event = make_event(path="/srv/caf\u00e9".encode())
    output.write(event)
    output.close()
    assert replaced.getvalue() == text.format_event(event) + "\n"
    assert not replaced.closed


class FailingStream:
    """A byte stream whose writes fail with one errno."""

    def __init__(self, exc: OSError) -> None:
        self.exc = exc
        self.closed = False

    def write(self, _data: bytes, /) -> int:
        raise self.exc

    def flush(self) -> None:
        raise self.exc

    def close(self) -> None:
        self.closed = True


def test_broken_pipe_raises_output_error_and_silences_stdout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    silenced = []
    monkeypatch.setattr(outputs_pkg, "_silence_stdout", lambda: silenced.append(True))
    pipe_error = BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
    output = LineOutput(text.format_event, FailingStream(pipe_error), "<stdout>", owned=False)
    with pytest.raises(OutputError) as info:
        output.write(make_event())
    assert str(info.value) == "cannot write output <stdout>: Broken pipe"
    assert info.value.__cause__ is pipe_error
    assert silenced == [True]


def test_disk_full_raises_output_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs_pkg, "_silence_stdout", pytest.fail)
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    stream = FailingStream(full)
    output = LineOutput(jsonl.format_event, stream, "/var/log/x", owned=True)
    with pytest.raises(OutputError, match="cannot write output /var/log/x: No space left"):
        output.write(make_event())
    with pytest.raises(OutputError):
        output.flush()
    output.close()
    assert stream.closed


class CountingStream:
    """A byte stream that records every write and flush."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.flushes = 0

    def write(self, data: bytes, /) -> int:
        self.writes.append(data)
        return len(data)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        pass


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_batch_is_one_write_and_one_flush(fmt: str) -> None:
    stream = CountingStream()
    format_line = jsonl.format_event if fmt == "json" else text.format_event
    output = LineOutput(format_line, stream, "x", owned=True)
    events = [make_event(pid=pid) for pid in range(5)]
    output.write_batch(events)
    assert stream.flushes == 1
    assert stream.writes == ["".join(format_line(e) + "\n" for e in events).encode()]
    assert output.busy_for() == 0.0


def test_a_failed_batch_counts_no_event_as_written() -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    output = LineOutput(jsonl.format_event, FailingStream(full), "/var/log/x", owned=True)
    with pytest.raises(OutputError, match="No space left") as info:
        output.write_batch([make_event(), make_event()])
    assert info.value.written == 0
    assert info.value.__cause__ is full
    assert output.busy_for() == 0.0


def test_a_write_that_stalls_is_seen_busy() -> None:
    seen: list[float] = []

    class SlowStream(CountingStream):
        def write(self, data: bytes, /) -> int:
            seen.append(output.busy_for())
            return super().write(data)

    output = LineOutput(jsonl.format_event, SlowStream(), "x", owned=True)
    output.write_batch([make_event()])
    assert len(seen) == 1
    assert seen[0] >= 0.0
    assert output._busy_since is None  # noqa: SLF001 - the stamp is cleared after the write


def test_write_after_close_is_a_bug(tmp_path: Path) -> None:
    output = open_output("text", tmp_path / "x.log")
    output.close()
    with pytest.raises(ValueError, match="closed"):
        output.write(make_event())


# -- summary -----------------------------------------------------------------------------


def test_summary_without_drops() -> None:
    summary = RunSummary(duration_s=15.0, probes=(ProbeStats("file_monitor", 12, 0),))
    assert format_summary(summary) == [
        "summary: ran 15.0s; file_monitor: 12 events, 0 dropped; total: 12 events, 0 dropped"
    ]


def test_summary_with_drops_says_so_plainly() -> None:
    summary = RunSummary(
        duration_s=3.25,
        probes=(ProbeStats("file_monitor", 1, 5), ProbeStats("network_monitor", 7, 0)),
    )
    assert format_summary(summary) == [
        (
            "summary: ran 3.2s; file_monitor: 1 event, 5 dropped; network_monitor: 7 events, "
            "0 dropped; total: 8 events, 5 dropped"
        ),
        "warning: 5 events dropped (file_monitor: 5); the event log is incomplete",
    ]


def test_summary_with_one_drop_and_no_probes() -> None:
    one = RunSummary(duration_s=1, probes=(ProbeStats("file_monitor", 0, 1),))
    assert format_summary(one)[1] == (
        "warning: 1 event dropped (file_monitor: 1); the event log is incomplete"
    )
    empty = RunSummary(duration_s=0.04, probes=())
    assert format_summary(empty) == ["summary: ran 0.0s; total: 0 events, 0 dropped"]


def test_progress_line() -> None:
    assert format_progress([ProbeStats("file_monitor", 12, 0)]) == (
        "stats: file_monitor: 12 events, 0 dropped"
    )
    assert format_progress(
        [ProbeStats("file_monitor", 12, 5), ProbeStats("memory_monitor", 0, 0)]
    ) == (
        "stats: file_monitor: 12 events, 5 dropped; memory_monitor: 0 events, 0 dropped; "
        "warning: 5 events dropped (file_monitor: 5) so far"
    )
    assert format_progress([]) == "stats: no probes"


def test_a_cut_off_last_line_is_not_glued_to_the_next_event(tmp_path: Path) -> None:
    target = tmp_path / "events.jsonl"
    target.write_bytes(b'{"type":"file_acc')  # an earlier run hit a full disk here
    output = open_output("json", target)
    output.write(make_event())
    output.close()
    lines = target.read_bytes().splitlines()
    assert lines[0] == b'{"type":"file_acc'
    assert json.loads(lines[1])["type"] == "file_access"
