"""The libbpf binding on the real kernel: every failure is a LoadError that says why.

Open, configure, load and attach each fail here for a real reason (a missing
file, a second load, a ring buffer size the kernel refuses, a cgroup program
with no cgroup), and the maps and the ring buffer are driven through their
error paths with the kernel's own answers.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bee_trace.bpf import BpfMap, BpfObject, PerfBuffer, RingBuffer, libbpf
from bee_trace.bpf.libbpf import BPF_MAP_TYPE_RINGBUF, lib, loaded_programs, possible_cpus
from bee_trace.bpf.ringbuf import MappedRingBuffer
from bee_trace.errors import LoadError
from bee_trace.events.records import (
    HEADER,
    MIRRORS,
    Counter,
    FilterKey,
    RecordHeader,
    check_layout,
)
from bee_trace.policy import parse_policy
from bee_trace.probes.base import ProbeContext, object_path
from bee_trace.probes.file import FileProbe
from bee_trace.runtime import perfbuf_object

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.kernel

# libbpf's own errno for "not an ELF object" (LIBBPF_ERRNO__FORMAT)
LIBBPF_ERRNO_FORMAT = 4001


@pytest.fixture
def net_obj() -> Iterator[BpfObject]:
    """network_monitor opened, every program left to load (the deny programs too)."""
    obj = BpfObject(object_path("network_monitor.bpf.o"))
    try:
        yield obj
    finally:
        obj.close()


@pytest.fixture
def loaded_net(net_obj: BpfObject) -> BpfObject:
    net_obj.load()
    return net_obj


@pytest.fixture
def loaded_file() -> Iterator[BpfObject]:
    """file_monitor loaded with no watch patterns: its maps are empty."""
    obj = BpfObject(object_path("file_monitor.bpf.o"))
    try:
        obj.load()
        yield obj
    finally:
        obj.close()


def _key(value: bytes) -> bytes:
    key = FilterKey()
    key.kind = 1
    key.len = len(value)
    key.value = value
    return bytes(key)


# --- the library itself ---


def test_a_missing_libbpf_is_a_load_error_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libbpf, "LIBBPF_SONAME", "libbpf-bee-trace-test-missing.so.1")
    with pytest.raises(LoadError, match=r"cannot load libbpf-bee-trace-test-missing\.so\.1") as e:
        libbpf._load_library()  # noqa: SLF001 - the loader behind lib(), on a name that is absent
    assert "version 1.1 or newer" in str(e.value)
    assert isinstance(e.value.__cause__, OSError)


def test_a_libbpf_older_than_needed_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # the real library, against a minimum it cannot meet; monkeypatch restores the handle
    monkeypatch.setattr(libbpf, "_lib", None)
    monkeypatch.setattr(libbpf, "_libc", libbpf._libc)  # noqa: SLF001 - restored after the test
    monkeypatch.setattr(libbpf, "LIBBPF_MIN_VERSION", (99, 0))
    with pytest.raises(LoadError, match=r"libbpf 1\.\d+ is too old: bee-trace needs"):
        lib()


# --- open ---


def test_opening_a_missing_object_names_the_errno(tmp_path: Path) -> None:
    missing = tmp_path / "absent.bpf.o"
    with pytest.raises(LoadError) as e:
        BpfObject(missing)
    assert e.value.errno == errno.ENOENT
    message = str(e.value)
    assert message.startswith(f"cannot open BPF object {missing}: ENOENT (No such file")
    # libbpf's own line, once prefixed
    assert f"\n  libbpf: elf: failed to open {missing}" in message
    assert "libbpf: libbpf:" not in message


def test_opening_a_file_that_is_not_elf_is_a_load_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.bpf.o"
    bogus.write_bytes(b"this is not an ELF object\n")
    with pytest.raises(LoadError) as e:
        BpfObject(bogus)
    assert e.value.errno == LIBBPF_ERRNO_FORMAT
    # libbpf's own code gets libbpf's own reason, not "Unknown error 4001"
    assert "libbpf error 4001 (BPF object format invalid)" in str(e.value)
    assert "is not a proper ELF object" in str(e.value)


def test_a_closed_object_refuses_use_and_closes_twice(net_obj: BpfObject) -> None:
    net_obj.close()
    net_obj.close()
    with pytest.raises(LoadError, match="is closed"):
        net_obj.map("events")
    with pytest.raises(LoadError, match="is closed"):
        net_obj.program_names()


# --- configure ---


def test_lookups_of_a_wrong_name_say_which(net_obj: BpfObject) -> None:
    with pytest.raises(LoadError, match=r"network_monitor\.bpf\.o has no map no_such_map"):
        net_obj.map("no_such_map")
    with pytest.raises(LoadError, match=r"network_monitor\.bpf\.o has no program no_such_prog"):
        net_obj.set_autoload("no_such_prog", enabled=False)
    with pytest.raises(LoadError, match="has no program no_such_prog"):
        net_obj.section("no_such_prog")
    assert net_obj.section("deny_connect4") == "cgroup/connect4"
    assert net_obj.section("enter_connect") == "tracepoint/syscalls/sys_enter_connect"


def test_initial_value_larger_than_the_map_is_refused(net_obj: BpfObject) -> None:
    rodata = net_obj.map(".rodata")
    with pytest.raises(LoadError, match=r"map \.rodata holds \d+ bytes, cannot take 100000"):
        rodata.set_initial_value(b"\0" * 100_000)
    # a map with no initial value at all (not global data) holds nothing
    with pytest.raises(LoadError, match="map events holds 0 bytes, cannot take 1"):
        net_obj.map("events").set_initial_value(b"\1")


def test_struct_layout_of_a_missing_struct_is_a_load_error(net_obj: BpfObject) -> None:
    with pytest.raises(LoadError, match="has no BTF for struct bt_no_such_struct"):
        net_obj.struct_layout("bt_no_such_struct")
    check_layout(net_obj.struct_layout("bt_net_event"), MIRRORS["bt_net_event"])


# --- load ---


def test_a_second_load_fails_with_errno_and_libbpf_log(loaded_net: BpfObject) -> None:
    with pytest.raises(LoadError) as e:
        loaded_net.load()
    assert e.value.errno == errno.EINVAL
    message = str(e.value)
    assert message.startswith("cannot load network_monitor.bpf.o into the kernel: EINVAL")
    assert "\n  libbpf: object 'network_monitor': load can't be attempted twice" in message


def test_objects_loaded_side_by_side_keep_their_messages_apart(net_obj: BpfObject) -> None:
    # the runtime loads its objects on threads at once: libbpf's messages of
    # one (a refused map) must not end up in another's error, or be lost
    lib().bpf_map__set_max_entries(net_obj.map("pending")._ptr, 0)  # noqa: SLF001
    memory = BpfObject(object_path("memory_monitor.bpf.o"))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            refused = pool.submit(net_obj.load)
            fine = pool.submit(memory.load)
        assert fine.exception() is None
        error = refused.exception()
        assert isinstance(error, LoadError)
        assert "map 'pending': failed to create" in str(error)
        assert "memory_monitor" not in str(error)
    finally:
        memory.close()


def test_a_map_the_kernel_refuses_fails_the_load(net_obj: BpfObject) -> None:
    # libbpf passes a zero-sized hash map on; the kernel refuses to create it
    pending = net_obj.map("pending")
    assert lib().bpf_map__set_max_entries(pending._ptr, 0) == 0  # noqa: SLF001 - the raw map
    with pytest.raises(LoadError) as e:
        net_obj.load()
    assert e.value.errno == errno.EINVAL
    message = str(e.value)
    assert message.startswith("cannot load network_monitor.bpf.o into the kernel: EINVAL")
    assert "\n  libbpf: map 'pending': failed to create: Invalid argument(-22)" in message


# --- attach ---


def test_a_cgroup_program_cannot_attach_without_a_cgroup(loaded_net: BpfObject) -> None:
    with pytest.raises(LoadError) as e:
        loaded_net.attach("deny_connect4")
    assert e.value.errno == errno.EOPNOTSUPP
    assert str(e.value).startswith("cannot attach deny_connect4 (cgroup/connect4): ")
    assert loaded_net.links == []


def test_attach_cgroup_with_a_bad_fd_fails_with_ebadf(
    loaded_net: BpfObject, tmp_path: Path
) -> None:
    with pytest.raises(LoadError) as e:
        loaded_net.attach_cgroup("deny_connect4", -1)
    assert e.value.errno == errno.EBADF
    assert "to a cgroup: EBADF" in str(e.value)
    assert "libbpf: prog 'deny_connect4': failed to attach to cgroup" in str(e.value)
    # an open file that is not a cgroup is refused too
    not_a_cgroup = tmp_path / "plain"
    not_a_cgroup.write_text("")
    fd = os.open(not_a_cgroup, os.O_RDONLY)
    try:
        with pytest.raises(LoadError, match="to a cgroup"):
            loaded_net.attach_cgroup("deny_connect4", fd)
    finally:
        os.close(fd)
    assert loaded_net.links == []


def test_links_detach_once_however_often_destroyed(loaded_net: BpfObject) -> None:
    link = loaded_net.attach("enter_connect")
    assert link.program == "enter_connect"
    assert loaded_net.links == [link]
    link.destroy()
    link.destroy()
    loaded_net.detach()
    assert loaded_net.links == []


# --- maps ---


def test_hash_map_elements_round_trip(loaded_file: BpfObject) -> None:
    filt = loaded_file.map("filter")
    size = ctypes.sizeof(FilterKey)
    assert filt.keys(size) == []
    one, two = _key(b"id_rsa"), _key(b"shadow")
    assert filt.lookup(one, 1) is None
    filt.update(one, b"\1")
    filt.update(two, b"\1")
    assert sorted(filt.keys(size)) == sorted([one, two])
    assert filt.lookup(one, 1) == b"\1"
    assert filt.delete(one) is True
    assert filt.delete(one) is False
    assert filt.keys(size) == [two]


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("cannot update map filter", lambda m: m.update(b"short", b"\1")),
        ("cannot read map filter", lambda m: m.lookup(b"short", 1)),
        ("cannot remove an element of map filter", lambda m: m.delete(b"short")),
        ("cannot list map filter", lambda m: m.keys(3)),
    ],
)
def test_a_wrong_key_size_is_einval(
    loaded_file: BpfObject, what: str, call: Callable[[BpfMap], object]
) -> None:
    filt = loaded_file.map("filter")
    with pytest.raises(LoadError) as e:
        call(filt)
    assert e.value.errno == errno.EINVAL
    assert str(e.value) == f"{what}: EINVAL (Invalid argument)"


def test_possible_cpus_matches_sysfs() -> None:
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    count = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    assert possible_cpus() == count


def test_possible_cpus_fails_when_sysfs_says_nothing(tmp_path: Path) -> None:
    # a private mount namespace where the possible-CPU list is empty
    empty = tmp_path / "possible"
    empty.write_text("")
    code = (
        "from bee_trace.bpf.libbpf import possible_cpus\n"
        "from bee_trace.errors import LoadError\n"
        "try:\n"
        "    possible_cpus()\n"
        "except LoadError as e:\n"
        "    print(e.errno, e)\n"
    )
    script = 'mount --bind "$1" /sys/devices/system/cpu/possible && exec "$2" -c "$3"'
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(empty), sys.executable, code],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    expected = "cannot count possible CPUs: EINVAL (Invalid argument)"
    assert proc.stdout.strip() == f"{errno.EINVAL} {expected}"


# --- ring buffer ---


def test_an_empty_ring_buffer_polls_nothing() -> None:
    ring = RingBuffer()
    assert ring.poll(0) == 0
    assert ring.consume() == 0
    ring.close()


def test_a_map_that_is_not_a_ring_buffer_is_refused(loaded_net: BpfObject) -> None:
    ring = RingBuffer()
    try:
        # as the first map: the consumer is never made
        with pytest.raises(LoadError) as e:
            ring.add(loaded_net.map("udp_agg"), lambda _raw: None)
        assert e.value.errno == errno.EINVAL
        assert "cannot consume ring buffer udp_agg: EINVAL" in str(e.value)
        assert "is not BPF_MAP_TYPE_RINGBUF" in str(e.value)
        assert ring.poll(0) == 0
        # as a further map, added to a working consumer
        ring.add(loaded_net.map("events"), lambda _raw: None)
        with pytest.raises(LoadError, match="cannot consume ring buffer pending: EINVAL"):
            ring.add(loaded_net.map("pending"), lambda _raw: None)
        assert ring.poll(0) == 0
    finally:
        ring.close()
        ring.close()


class _BoomError(Exception):
    pass


def _watching_file_probe(suffix: str) -> FileProbe:
    policy = parse_policy(f"files:\n  watch_read:\n    - '*{suffix}'\n", "test")
    return FileProbe(ProbeContext(policy=policy, self_pid=os.getpid(), boot_to_utc_ns=0))


def _open_in_child(path: Path, times: int = 1) -> None:
    subprocess.run(["cat", *[str(path)] * times], check=True, capture_output=True)


def _watch_one_file(tmp_path: Path, *, perf: bool) -> Iterator[tuple[BpfObject, Path]]:
    """file_monitor (its perf-buffer build if perf) loaded and attached, watching one file."""
    suffix = f".beetest-{'perf' if perf else 'ring'}-{os.getpid()}"
    target = tmp_path / f"t{suffix}"
    target.write_text("x")
    probe = _watching_file_probe(suffix)
    name = perfbuf_object(probe.object_name) if perf else probe.object_name
    obj = BpfObject(object_path(name))
    try:
        probe.configure(obj)
        obj.load()
        probe.populate(obj)
        probe.attach(obj)
        yield obj, target
    finally:
        obj.close()


def _run(buffer: RingBuffer | MappedRingBuffer | PerfBuffer, how: str) -> Callable[[], int]:
    """The buffer's poll (waiting up to 5 s) or its consume."""
    return (lambda: buffer.poll(5000)) if how == "poll" else buffer.consume


def _no_epoll_at(fd: int) -> None:
    """Put a file that is no epoll instance where a consumer's epoll fd was."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[BpfObject, Path]]:
    """file_monitor loaded and attached, watching one file of tmp_path."""
    yield from _watch_one_file(tmp_path, perf=False)


@pytest.mark.parametrize("how", ["poll", "consume"])
def test_a_handler_error_is_raised_from_poll(watched: tuple[BpfObject, Path], how: str) -> None:
    obj, target = watched
    seen: list[bytes] = []

    def handler(raw: bytes) -> None:
        seen.append(raw)
        if len(seen) == 1:
            msg = "handler failed"
            raise _BoomError(msg)

    ring = RingBuffer()
    try:
        ring.add(obj.map("events"), handler)
        _open_in_child(target, times=2)
        run = _run(ring, how)
        with pytest.raises(_BoomError, match="handler failed"):
            run()
        # the error is raised once; the record after it is still there
        assert len(seen) == 1
        assert ring.error is None
        assert ring.consume() == 1
        assert len(seen) == 2
    finally:
        ring.close()


def test_a_failing_epoll_is_a_load_error(loaded_net: BpfObject) -> None:
    ring = RingBuffer()
    epoll_fd = lib().ring_buffer__epoll_fd
    epoll_fd.restype = ctypes.c_int
    epoll_fd.argtypes = [ctypes.c_void_p]
    try:
        ring.add(loaded_net.map("events"), lambda _raw: None)
        _no_epoll_at(epoll_fd(ring._ptr))  # noqa: SLF001 - the raw consumer
        with pytest.raises(LoadError) as e:
            ring.poll(0)
        assert e.value.errno == errno.EINVAL
        assert str(e.value) == "ring buffer poll failed: EINVAL (Invalid argument)"
    finally:
        ring.close()


# --- ring buffer, read from its mapping ---


def test_an_empty_mapped_ring_buffer_polls_nothing(loaded_net: BpfObject) -> None:
    ring = MappedRingBuffer()
    assert ring.poll(0) == 0
    assert ring.consume() == 0
    ring.add(loaded_net.map("events"), lambda _batch: pytest.fail("no record was written"))
    assert loaded_net.map("events").map_type == BPF_MAP_TYPE_RINGBUF
    assert ring.poll(0) == 0
    assert ring.consume() == 0
    ring.close()
    ring.close()


def test_a_map_that_is_not_a_ring_buffer_is_not_mapped(loaded_net: BpfObject) -> None:
    ring = MappedRingBuffer()
    try:
        with pytest.raises(LoadError) as e:
            ring.add(loaded_net.map("udp_agg"), lambda _batch: None)
        assert e.value.errno == errno.EINVAL
        assert str(e.value) == "cannot consume ring buffer udp_agg: not a ring buffer map"
        assert ring.poll(0) == 0
    finally:
        ring.close()


def test_a_mapped_ring_buffer_delivers_every_record_in_one_batch(
    watched: tuple[BpfObject, Path],
) -> None:
    obj, target = watched
    batches: list[list[bytes]] = []
    ring = MappedRingBuffer()
    try:
        ring.add(obj.map("events"), batches.append)
        _open_in_child(target, times=3)
        # every record is committed once the child is gone: one batch holds them all
        assert ring.consume() == 3
        assert len(batches) == 1
        assert all(target.name.encode() in raw for raw in batches[0])
        assert ring.poll(0) == 0
        # poll waits for what comes next
        _open_in_child(target, times=1)
        assert ring.poll(5000) == 1
        assert len(batches) == 2
    finally:
        ring.close()


def test_a_ring_consumed_while_written_never_looks_full(watched: tuple[BpfObject, Path]) -> None:
    # the consumer position must never pass through another value on its way
    # (a zero-filled store made the kernel see a full ring and drop records)
    obj, target = watched
    opens = 100_000
    got: list[bytes] = []
    ring = MappedRingBuffer()
    try:
        ring.add(obj.map("events"), got.extend)
        loop = f"for _ in range({opens}):\n    open({str(target)!r}).close()"
        child = subprocess.Popen([sys.executable, "-c", loop])
        while child.poll() is None:
            ring.poll(10)
        assert child.returncode == 0
        ring.consume()
        drops = obj.map("counters").lookup(
            struct.pack("<I", Counter.DROP_RINGBUF), 8 * possible_cpus()
        )
        assert drops is not None
        assert sum(struct.unpack(f"<{possible_cpus()}Q", drops)) == 0
        # the child's own opens, whatever else opened a watched name meanwhile
        pids = [RecordHeader._make(HEADER.unpack_from(raw)).pid for raw in got]
        assert pids.count(child.pid) == opens
    finally:
        ring.close()


@pytest.mark.parametrize("how", ["poll", "consume"])
def test_a_batch_handler_error_is_raised_once_and_its_records_are_gone(
    watched: tuple[BpfObject, Path], how: str
) -> None:
    obj, target = watched
    seen: list[list[bytes]] = []

    def handler(batch: list[bytes]) -> None:
        seen.append(batch)
        msg = "handler failed"
        raise _BoomError(msg)

    ring = MappedRingBuffer()
    try:
        ring.add(obj.map("events"), handler)
        _open_in_child(target, times=2)
        run = _run(ring, how)
        with pytest.raises(_BoomError, match="handler failed"):
            run()
        # the handler had the whole batch, and must count what it could not take
        assert [len(batch) for batch in seen] == [2]
        assert ring.consume() == 0
    finally:
        ring.close()


def test_a_failing_epoll_wait_is_a_load_error(loaded_net: BpfObject) -> None:
    ring = MappedRingBuffer()
    try:
        ring.add(loaded_net.map("events"), lambda _batch: None)
        _no_epoll_at(ring._epoll.fileno())  # type: ignore[union-attr]  # noqa: SLF001
        with pytest.raises(LoadError) as e:
            ring.poll(0)
        assert e.value.errno == errno.EINVAL
        assert str(e.value) == "ring buffer poll failed: Invalid argument"
    finally:
        ring.close()


# --- perf buffer (the fallback without ring buffers) ---


def test_an_empty_perf_buffer_polls_nothing() -> None:
    perf = PerfBuffer(1)
    assert perf.poll(0) == 0
    assert perf.consume() == 0
    perf.close()
    perf.close()


def test_a_map_that_is_not_a_perf_event_array_is_refused(loaded_net: BpfObject) -> None:
    perf = PerfBuffer(1)
    try:
        with pytest.raises(LoadError) as e:
            perf.add(loaded_net.map("udp_agg"), lambda _raw: None)
        assert e.value.errno == errno.EINVAL
        assert "cannot consume perf buffer udp_agg: EINVAL" in str(e.value)
        assert perf.poll(0) == 0
    finally:
        perf.close()


def test_feature_probes_answer_for_the_running_kernel() -> None:
    assert libbpf.map_type_supported(libbpf.BPF_MAP_TYPE_RINGBUF)
    assert libbpf.prog_type_supported(libbpf.BPF_PROG_TYPE_CGROUP_SOCK_ADDR)
    # a type no kernel knows: libbpf cannot even probe it
    assert not libbpf.map_type_supported(9999)
    assert not libbpf.prog_type_supported(9999)


@pytest.fixture
def watched_perf(tmp_path: Path) -> Iterator[tuple[BpfObject, Path]]:
    """file_monitor's perf-buffer build loaded and attached, watching one file."""
    yield from _watch_one_file(tmp_path, perf=True)


@pytest.mark.parametrize("how", ["poll", "consume"])
def test_a_perf_handler_error_is_raised_and_later_records_still_delivered(
    watched_perf: tuple[BpfObject, Path], how: str
) -> None:
    obj, target = watched_perf
    seen: list[bytes] = []

    def handler(raw: bytes) -> None:
        seen.append(raw)
        msg = f"handler failed {len(seen)}"
        raise _BoomError(msg)

    perf = PerfBuffer(4)
    try:
        perf.add(obj.map("events"), handler)
        _open_in_child(target, times=2)
        run = _run(perf, how)
        # the first error is raised, once; a perf buffer has no way to stop
        # part way, so the record after it was handed over too
        with pytest.raises(_BoomError, match="handler failed 1"):
            run()
        assert len(seen) == 2
        assert perf.error is None
        assert perf.consume() == 0
    finally:
        perf.close()


def test_samples_a_full_perf_buffer_lost_are_counted(
    watched_perf: tuple[BpfObject, Path],
) -> None:
    obj, target = watched_perf
    delivered: list[bytes] = []
    perf = PerfBuffer(1)
    try:
        perf.add(obj.map("events"), delivered.append)
        # one page holds a few records: most of these are lost. perf reports
        # the loss with the next record that fits into the same CPU's buffer,
        # so every open runs on CPU 0
        cat = ["taskset", "-c", "0", "cat"]
        subprocess.run([*cat, *[str(target)] * 500], check=True, capture_output=True)
        perf.consume()
        subprocess.run([*cat, str(target)], check=True, capture_output=True)
        while perf.consume() > 0:
            pass
        assert perf.lost > 0
        assert len(delivered) + perf.lost == 501
    finally:
        perf.close()


def test_loaded_programs_lists_ours_with_their_accounting() -> None:
    obj = BpfObject(object_path("memory_monitor.bpf.o"))
    try:
        obj.load()
        ours = {obj.program_info(name).id: name for name in obj.program_names()}
        listed = loaded_programs()
        for prog_id, name in ours.items():
            assert listed[prog_id].name == name[:15]
            assert listed[prog_id].run_cnt >= 0
    finally:
        obj.close()
    assert not set(ours) & set(loaded_programs())
