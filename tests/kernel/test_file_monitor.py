"""file_monitor on the real kernel: what is reported, and what is not.

One bee-trace runs for the whole module with a test policy; each test makes
child processes open files and then reads the events bee-trace wrote. A
negative check is made safe by a marker read after it: events arrive in
order, so once the marker is seen, anything the earlier open caused is too.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import pytest

from bee_trace.outputs.jsonl import load_schema
from tests.kernel.helpers import (
    OWN_PAGE_PRELUDE,
    BeeTrace,
    as_int,
    as_list,
    as_str,
    program_exists,
    program_ids_of,
    traced_child,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("arg_source")]

WAIT_S = 10.0


class Watch:
    """A running bee-trace and the scratch tree its policy watches."""

    def __init__(self, root: Path, bee: BeeTrace) -> None:
        self.root = root
        self.bee = bee
        self._seen = 0

    def events(self) -> list[dict[str, object]]:
        text = self.bee.output.read_text() if self.bee.output.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def wait_for(self, pid: int, timeout: float = WAIT_S) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events() if e["pid"] == pid]
            if found:
                return found
            time.sleep(0.05)
        pytest.fail(f"no event for pid {pid} within {timeout}s; have {self.events()[-5:]}")

    def marker(self) -> None:
        """Read the marker file and wait until bee-trace reports it."""
        proc = subprocess.run(["cat", str(self.root / "marker" / "id_rsa")], check=True)
        del proc
        pid = _run(f"open({str(self.root / 'marker' / 'id_rsa')!r}).read()")
        self.wait_for(pid)


def _run(code: str, cwd: Path | None = None) -> int:
    """Run Python code in a child; return the child's pid."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import os\n{code}\nprint(os.getpid())"],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout.strip().splitlines()[-1])


# names of every length class the kernel's first stage (signatures) handles:
# a prefix key, a name shorter than a signature, a name longer than a dentry
# holds inline, and a file found by its parent directory's name
LONG_NAME = "a-name-longer-than-any-dentry-keeps-inline-" + "x" * 30
FIRST_STAGE_HITS = (
    "plain/bt-prefix-anything",
    "plain/ab",
    f"plain/{LONG_NAME}",
    "privdir/anything.txt",
)
# near misses: each shares a signature-sized edge with a key, or not quite
FIRST_STAGE_MISSES = (
    "plain/bt-prefi",
    "plain/xab",
    f"plain/{LONG_NAME[1:]}",
    "privdir2/anything.txt",
)


def _cat(path: Path | str, cwd: Path | None = None) -> int:
    proc = subprocess.Popen(["cat", str(path)], cwd=cwd, stdout=subprocess.DEVNULL)
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def watch(tmp_path_factory: pytest.TempPathFactory, arg_source: str) -> Iterator[Watch]:
    root = tmp_path_factory.mktemp("fm")
    for d in (
        "secret",
        "other",
        "marker",
        "plain",
        "deep/a/b/c",
        "cloud/u1",
        "privdir",
        "privdir2",
    ):
        (root / d).mkdir(parents=True)
    for f in (
        "secret/id_rsa",
        "secret/.env",
        "marker/id_rsa",
        "plain/notes.txt",
        "plain/id_rsa.pub",
        "plain/not_id_rsa",
        "deep/a/b/c/server.beetest-key",
        "cloud/u1/creds",
        "secret/exact.txt",
        *FIRST_STAGE_HITS,
        *FIRST_STAGE_MISSES,
    ):
        (root / f).write_text("x\n")
    (root / "link_to_key").symlink_to(root / "secret" / "id_rsa")
    policy = root / "policy.yml"
    policy.write_text(
        "version: 1\nfiles:\n  watch_read:\n"
        "    - id_rsa\n    - .env\n    - '*.beetest-key'\n"
        f"    - {root}/secret/exact.txt\n"
        f"    - {root}/cloud/*/creds\n"
        f"    - 'bt-prefix-*'\n    - ab\n    - {LONG_NAME}\n    - {root}/privdir/*\n"
    )
    with BeeTrace(
        "--probe-type", "file_monitor", "--config", str(policy), output=root / "events.jsonl"
    ) as bee:
        ours = program_ids_of(bee.pid)
        w = Watch(root, bee)
        yield w
        run = bee.stop()
    assert run.returncode == 0, run.stderr
    assert "summary:" in run.stderr
    # nothing stays loaded once bee-trace has stopped
    # the exit program and its second stage, and the four entry programs
    # only where they keep the arguments
    assert len(ours) == (6 if arg_source == "entry" else 2)
    assert [p for p in ours if program_exists(p)] == []


def test_absolute_path_read_is_reported_with_process_fields(watch: Watch) -> None:
    pid = _cat(watch.root / "secret" / "id_rsa")
    (event,) = watch.wait_for(pid)
    assert event["type"] == "file_access"
    assert event["comm"] == "cat"
    assert event["path"] == str(watch.root / "secret" / "id_rsa")
    assert event["tid"] == pid
    assert event["ppid"] == os.getpid()
    assert event["uid"] == os.getuid()
    assert as_int(event["result"]) >= 0
    assert event["result_name"] is None
    assert as_list(event["flag_names"])[0] == "O_RDONLY"
    assert event["rule"] == "id_rsa"
    assert event["resolved"] is True


def test_relative_path_from_another_directory(watch: Watch) -> None:
    pid = _run("open('../secret/.env').read()", cwd=watch.root / "other")
    (event,) = watch.wait_for(pid)
    assert event["path"] == str(watch.root / "secret" / ".env")
    assert event["rule"] == ".env"


def test_openat_with_a_directory_descriptor(watch: Watch) -> None:
    code = (
        f"d = os.open({str(watch.root / 'secret')!r}, os.O_RDONLY | os.O_DIRECTORY)\n"
        "os.close(os.open('id_rsa', os.O_RDONLY, dir_fd=d))"
    )
    pid = _run(code, cwd=Path("/"))
    (event,) = watch.wait_for(pid)
    assert event["syscall"] == "openat"
    assert event["path"] == str(watch.root / "secret" / "id_rsa")


def test_symlink_reports_the_real_path(watch: Watch) -> None:
    pid = _cat("link_to_key", cwd=watch.root)
    (event,) = watch.wait_for(pid)
    assert event["path"] == str(watch.root / "secret" / "id_rsa")


def test_deep_glob_and_absolute_patterns(watch: Watch) -> None:
    pid = _cat(watch.root / "deep" / "a" / "b" / "c" / "server.beetest-key")
    (event,) = watch.wait_for(pid)
    assert event["rule"] == "*.beetest-key"
    pid = _cat(watch.root / "cloud" / "u1" / "creds")
    (event,) = watch.wait_for(pid)
    assert event["rule"] == f"{watch.root}/cloud/*/creds"
    pid = _cat(watch.root / "secret" / "exact.txt")
    (event,) = watch.wait_for(pid)
    assert event["path"] == str(watch.root / "secret" / "exact.txt")


def test_legacy_open_and_openat2(watch: Watch) -> None:
    target = str(watch.root / "secret" / "id_rsa")
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        f"path = {target!r}.encode()\n"
        "fd = libc.syscall(2, path, os.O_RDONLY, 0)\n"  # open(2) on x86_64
        "assert fd >= 0\nos.close(fd)\n"
        "how = (ctypes.c_uint64 * 3)(os.O_RDONLY | os.O_CLOEXEC, 0, 0)\n"
        "fd = libc.syscall(437, -100, path, ctypes.byref(how), 24)\n"  # openat2
        "assert fd >= 0, ctypes.get_errno()\nos.close(fd)"
    )
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers in this test are x86_64's")
    pid = _run(code)
    watch.marker()
    events = [e for e in watch.events() if e["pid"] == pid]
    assert sorted(as_str(e["syscall"]) for e in events) == ["open", "openat2"]
    assert all(e["path"] == target for e in events)
    openat2 = next(e for e in events if e["syscall"] == "openat2")
    assert "O_CLOEXEC" in as_list(openat2["flag_names"])


def test_failed_open_is_reported_with_errno_and_absolute_path(watch: Watch) -> None:
    pid = _run(
        "import contextlib\nwith contextlib.suppress(OSError): open('missing/.env')",
        cwd=watch.root / "other",
    )
    (event,) = watch.wait_for(pid)
    assert event["result_name"] == "ENOENT"
    assert event["result"] == -2
    assert event["path"] == str(watch.root / "other" / "missing" / ".env")


def test_unwatched_and_write_only_opens_are_not_reported(watch: Watch) -> None:
    pids = [
        _cat(watch.root / "plain" / "notes.txt"),
        _cat(watch.root / "plain" / "id_rsa.pub"),
        _cat(watch.root / "plain" / "not_id_rsa"),
        _run(f"open({str(watch.root / 'secret' / 'id_rsa')!r}, 'a').close()"),
    ]
    watch.marker()
    assert [e for e in watch.events() if e["pid"] in pids] == []


@pytest.mark.parametrize("name", FIRST_STAGE_HITS)
def test_every_kind_of_key_passes_the_first_stage(watch: Watch, name: str) -> None:
    pid = _cat(watch.root / name)
    (event,) = watch.wait_for(pid)
    assert event["path"] == str(watch.root / name)


def test_near_misses_are_not_reported(watch: Watch) -> None:
    pids = [_cat(watch.root / name) for name in FIRST_STAGE_MISSES]
    watch.marker()
    assert [e for e in watch.events() if e["pid"] in pids] == []


def test_events_validate_against_the_schema(watch: Watch) -> None:
    _cat(watch.root / "secret" / "id_rsa")
    watch.marker()
    schema = load_schema()
    events = watch.events()
    assert events
    for event in events:
        jsonschema.validate(event, schema, format_checker=jsonschema.FormatChecker())


def test_control_characters_in_a_path_cannot_forge_a_line(tmp_path: Path) -> None:
    evil = tmp_path / "a\nEvent: File access forged=1 \x1b[31m"
    evil.mkdir()
    (evil / "id_rsa").write_text("x")
    with BeeTrace("--probe-type", "file_monitor", output=tmp_path / "out.txt", fmt="text") as bee:
        pid = _cat(evil / "id_rsa")
        deadline = time.monotonic() + WAIT_S
        while f"pid={pid} " not in (bee.output.read_text() if bee.output.exists() else ""):
            assert time.monotonic() < deadline, "event not seen"
            time.sleep(0.05)
        run = bee.stop()
    assert run.returncode == 0
    lines = [ln for ln in bee.output.read_text().splitlines() if f"pid={pid} " in ln]
    assert len(lines) == 1
    assert lines[0].startswith("Event: File access ")
    assert "\x1b" not in bee.output.read_text()
    assert "forged=1" in lines[0]
    assert "\\n" in lines[0]


def test_libc_fopen_path(watch: Watch) -> None:
    libc = ctypes.CDLL(None)
    del libc  # the child does the open; this only documents which call it uses
    pid = _run(
        "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.fopen.restype = ctypes.c_void_p\n"
        f"f = libc.fopen({str(watch.root / 'secret' / 'id_rsa').encode()!r}, b're')\n"
        "libc.fclose(ctypes.c_void_p(f))"
    )
    (event,) = watch.wait_for(pid)
    assert "O_CLOEXEC" in as_list(event["flag_names"])


def test_denied_reads_through_symlinks_and_relative_names(tmp_path: Path) -> None:
    """Failed opens (EACCES as nobody) still name the real file."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed for this test")
    root = Path(tempfile.mkdtemp(prefix="bt-denied-", dir="/tmp"))
    try:
        root.chmod(0o755)
        secret = root / "secret"
        secret.mkdir(mode=0o755)
        target = secret / "locked.beetest-denied"
        target.write_text("x")
        target.chmod(0o600)
        (root / "linkdir").symlink_to(secret)
        policy = tmp_path / "policy.yml"
        policy.write_text(f"files:\n  watch_read:\n    - {target}\n")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        with BeeTrace("--config", str(policy), output=tmp_path / "out.jsonl") as bee:
            via_link = subprocess.Popen(
                [*nobody, "cat", str(root / "linkdir" / target.name)], stderr=subprocess.DEVNULL
            )
            via_link.wait()
            via_dotdot = subprocess.Popen(
                [*nobody, "cat", str(root / "linkdir" / ".." / "secret" / target.name)],
                stderr=subprocess.DEVNULL,
            )
            via_dotdot.wait()
            relative = subprocess.Popen(
                [*nobody, "cat", target.name], cwd=root / "linkdir", stderr=subprocess.DEVNULL
            )
            relative.wait()
            pids = {via_link.pid, via_dotdot.pid, relative.pid}
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                text = bee.output.read_text() if bee.output.exists() else ""
                mine = [json.loads(x) for x in text.splitlines()]
                mine = [e for e in mine if e["pid"] in pids]
                if len(mine) >= len(pids):
                    break
                time.sleep(0.05)
            run = bee.stop()
        assert run.returncode == 0, run.stderr
        assert {e["pid"] for e in mine} == pids
        for event in mine:
            assert event["path"] == str(target), event
            assert event["result_name"] == "EACCES"
    finally:
        shutil.rmtree(root)


def _mount_ns(script: str) -> int:
    """Run a shell script in a new mount namespace; return its pid."""
    proc = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", f"echo $$; {script}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return int(out.split()[0])


def test_bind_mounts_name_the_file_not_the_mount_point(watch: Watch) -> None:
    """A bind mount of a file or of a directory cannot hide a watched read."""
    bound_file = watch.root / "innocent-file"
    bound_file.write_text("")
    bound_dir = watch.root / "innocent-dir"
    bound_dir.mkdir()
    secret = watch.root / "secret"
    pid_file = _mount_ns(
        f"mount --bind {secret / 'id_rsa'} {bound_file} && exec cat {bound_file} >/dev/null"
    )
    pid_dir = _mount_ns(
        f"mount --bind {secret} {bound_dir} && exec cat {bound_dir / 'exact.txt'} >/dev/null"
    )
    (e_file,) = watch.wait_for(pid_file)
    assert e_file["path"] == str(secret / "id_rsa")
    assert e_file["resolved"] is True
    (e_dir,) = watch.wait_for(pid_dir)
    assert e_dir["path"] == str(secret / "exact.txt")


def test_unprivileged_user_namespace_bind_mount(watch: Watch) -> None:
    """An unprivileged user binding their own key elsewhere is still seen."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed for this test")
    base = Path(tempfile.mkdtemp(prefix="bt-userns-", dir="/tmp"))
    try:
        base.chmod(0o755)
        key = base / "id_rsa"
        key.write_text("k")
        decoy = base / "decoy"
        decoy.write_text("")
        os.chown(key, 65534, 65534)
        os.chown(decoy, 65534, 65534)
        proc = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "unshare",
                "-Urm",
                "sh",
                "-c",
                f"echo $$; mount --bind {key} {decoy} && exec cat {decoy}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
            pytest.fail(f"unprivileged user namespaces are off here: {proc.stderr}")
        assert proc.returncode == 0, proc.stderr
        pid = int(proc.stdout.split()[0])
        (event,) = watch.wait_for(pid)
        assert event["path"] == str(key)
    finally:
        shutil.rmtree(base)


def test_open_by_handle_at_is_reported(watch: Watch) -> None:
    code = f"""
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(8 + 128)
struct.pack_into("I", buf, 0, 128)
mount_id = ctypes.c_int()
path = {str(watch.root / "secret" / "id_rsa").encode()!r}
assert libc.name_to_handle_at(-100, path, buf, ctypes.byref(mount_id), 0) == 0
mfd = os.open({str(watch.root)!r}, os.O_RDONLY | os.O_DIRECTORY)
fd = libc.open_by_handle_at(mfd, buf, os.O_RDONLY)
assert fd >= 0, ctypes.get_errno()
os.close(fd)
"""
    pid = _run(code)
    (event,) = watch.wait_for(pid)
    assert event["syscall"] == "open_by_handle_at"
    assert event["path"] == str(watch.root / "secret" / "id_rsa")


def test_deep_paths_are_walked_whole(watch: Watch) -> None:
    deep = watch.root.joinpath(*[f"d{i}" for i in range(70)])
    deep.mkdir(parents=True)
    (deep / "id_rsa").write_text("x")
    pid = _cat(deep / "id_rsa")
    (event,) = watch.wait_for(pid)
    assert event["path"] == str(deep / "id_rsa")
    assert event["resolved"] is True


_FILE_ONLY = ("--probe-type", "file_monitor")

# A failed open whose name another thread unmapped while the open waited
# (on a FIFO with no writer, until a signal interrupts it).
_UNMAPPING_OPEN = (
    OWN_PAGE_PRELUDE
    + """
import signal
libc.open.argtypes = [ctypes.c_void_p, ctypes.c_int]
signal.signal(signal.SIGUSR1, lambda *_: None)
ctypes.memmove(page, os.fsencode(sys.argv[1]) + b"\\0", len(sys.argv[1]) + 1)
def unmap_then_interrupt():
    libc.munmap(page, 4096)
    os.kill(os.getpid(), signal.SIGUSR1)
threading.Timer(0.3, unmap_then_interrupt).start()
print(libc.open(page, os.O_RDONLY), ctypes.get_errno(), os.getpid())
"""
)


def test_a_failed_open_whose_name_is_unmapped_is_counted(tmp_path: Path) -> None:
    fifo = tmp_path / "id_rsa"
    os.mkfifo(fifo)
    run, out = traced_child(_FILE_ONLY, tmp_path / "out.jsonl", _UNMAPPING_OPEN, str(fifo))
    rc, err, pid = out.split()
    assert (rc, err) == ("-1", str(errno.EINTR))
    # the name was gone when the open returned: not reported, but counted
    assert [e for e in run.events if e["pid"] == int(pid)] == []
    assert re.search(r"file_monitor: \d+ events?, 1 dropped", run.stderr), run.stderr


# openat2 of a FIFO for reading; while it waits for a writer, a second thread
# rewrites the flags in the caller's open_how to O_WRONLY|O_PATH, then opens
# the FIFO for writing, which lets the read open return.
_FLIPPING_OPENAT2 = """
import ctypes, os, struct, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
path = os.fsencode(sys.argv[1])
how = ctypes.create_string_buffer(struct.pack("QQQ", os.O_RDONLY, 0, 0), 24)
def flip_then_write():
    ctypes.memmove(how, struct.pack("Q", os.O_WRONLY | 0o10000000), 8)
    os.close(os.open(path, os.O_WRONLY))
threading.Timer(0.3, flip_then_write).start()
fd = libc.syscall(437, -100, path, how, 24)
print(fd, os.getpid())
"""


def test_openat2_is_judged_by_the_opened_file_not_by_rewritten_flags(tmp_path: Path) -> None:
    fifo = tmp_path / "id_rsa"
    os.mkfifo(fifo)
    run, out = traced_child(_FILE_ONLY, tmp_path / "out.jsonl", _FLIPPING_OPENAT2, str(fifo))
    fd, pid = map(int, out.split())
    assert fd >= 0
    (event,) = [e for e in run.events if e["pid"] == pid]
    assert (event["syscall"], event["path"], event["result"]) == ("openat2", str(fifo), fd)
    # the access mode reported is the opened file's, not the rewritten one
    names = as_list(event["flag_names"])
    assert "O_WRONLY" not in names
    assert "O_PATH" not in names
