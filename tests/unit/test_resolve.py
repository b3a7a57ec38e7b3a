"""Making the names passed to open absolute, from a scratch /proc tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bee_trace.events.resolve import AT_FDCWD, absolute, base_directory, normalize

PID = 4242
TID = 4243


class FakeProc:
    """A scratch ``/proc`` holding only the links resolve reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()

    def _link(self, link: Path, target: str | bytes) -> None:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.fsdecode(target))

    def thread_cwd(self, pid: int, tid: int, target: str | bytes) -> None:
        self._link(self.root / str(pid) / "task" / str(tid) / "cwd", target)

    def process_cwd(self, pid: int, target: str | bytes) -> None:
        self._link(self.root / str(pid) / "cwd", target)

    def fd(self, pid: int, fd: int, target: str | bytes) -> None:
        self._link(self.root / str(pid) / "fd" / str(fd), target)


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path / "proc")


# normalize


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"/etc/passwd", b"/etc/passwd"),
        (b"//etc///passwd", b"/etc/passwd"),
        (b"/etc/./ssh/./sshd_config", b"/etc/ssh/sshd_config"),
        (b"/home/alice/../bob/.ssh/id_rsa", b"/home/bob/.ssh/id_rsa"),
        (b"/a/b/c/../../d", b"/a/d"),
        (b"/etc/ssh/", b"/etc/ssh"),
        (b"/", b"/"),
        (b"", b"/"),
        (b"/.", b"/"),
        (b"/a/...", b"/a/..."),
        (b"/a/..b/.c", b"/a/..b/.c"),
    ],
)
def test_normalize_collapses_separators_and_dots(path: bytes, expected: bytes) -> None:
    assert normalize(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"/..", b"/"),
        (b"/../../etc/shadow", b"/etc/shadow"),
        (b"/tmp/../../../root/.ssh/id_rsa", b"/root/.ssh/id_rsa"),
    ],
)
def test_normalize_stops_at_the_root(path: bytes, expected: bytes) -> None:
    assert normalize(path) == expected


def test_normalize_keeps_bytes_that_are_not_utf8() -> None:
    assert normalize(b"/tmp//\xff\xfe/./x\x80y") == b"/tmp/\xff\xfe/x\x80y"


def test_normalize_makes_a_relative_name_absolute_from_the_root() -> None:
    assert normalize(b"a/./b/../c") == b"/a/c"


# absolute names; symlinks are followed as bee-trace sees the file system, so
# every directory these tests name lies in a scratch tree (``fs``)


@pytest.fixture
def fs(tmp_path: Path) -> bytes:
    """A scratch directory with no symlink on its way, as bytes."""
    root = tmp_path.resolve() / "fs"
    root.mkdir()
    return bytes(root)


def mkdir(path: bytes) -> None:
    Path(os.fsdecode(path)).mkdir(parents=True)


def symlink(link: bytes, target: bytes) -> None:
    Path(os.fsdecode(link)).symlink_to(os.fsdecode(target))


def test_absolute_name_is_normalized_and_resolved(proc: FakeProc, fs: bytes) -> None:
    # no process in the fake /proc: an absolute name does not need one
    assert absolute(fs + b"/etc//ssh/../shadow", PID, TID, AT_FDCWD, proc.root) == (
        fs + b"/etc/shadow",
        True,
    )


def test_absolute_name_ignores_the_directory_descriptor(proc: FakeProc, fs: bytes) -> None:
    proc.fd(PID, 5, fs + b"/var/lib")

    assert absolute(fs + b"/etc/shadow", PID, TID, 5, proc.root) == (fs + b"/etc/shadow", True)


def test_symlinked_directory_is_followed(proc: FakeProc, fs: bytes) -> None:
    mkdir(fs + b"/real/.ssh")
    symlink(fs + b"/link", fs + b"/real")

    assert absolute(fs + b"/link/.ssh/id_rsa", PID, TID, AT_FDCWD, proc.root) == (
        fs + b"/real/.ssh/id_rsa",
        True,
    )


def test_dotdot_after_a_symlink_goes_up_from_its_target(proc: FakeProc, fs: bytes) -> None:
    # as the kernel does: /link/.. is the parent of the target, not fs
    mkdir(fs + b"/a/b/real")
    symlink(fs + b"/link", fs + b"/a/b/real")

    assert absolute(fs + b"/link/../.env", PID, TID, AT_FDCWD, proc.root) == (
        fs + b"/a/b/.env",
        True,
    )


def test_last_component_is_followed_only_when_asked(proc: FakeProc, fs: bytes) -> None:
    mkdir(fs + b"/keys")
    symlink(fs + b"/keys/alias.pem", fs + b"/keys/real.pem")
    name = fs + b"/keys/alias.pem"

    assert absolute(name, PID, TID, AT_FDCWD, proc.root) == (name, True)
    assert absolute(name, PID, TID, AT_FDCWD, proc.root, follow_last=True) == (
        fs + b"/keys/real.pem",
        True,
    )


# relative names


def test_relative_name_uses_the_thread_cwd(proc: FakeProc, fs: bytes) -> None:
    proc.thread_cwd(PID, TID, fs + b"/work")
    proc.process_cwd(PID, fs + b"/somewhere/else")

    assert absolute(b"secrets/.env", PID, TID, AT_FDCWD, proc.root) == (
        fs + b"/work/secrets/.env",
        True,
    )


def test_relative_name_with_dots_is_normalized_against_the_cwd(proc: FakeProc, fs: bytes) -> None:
    proc.thread_cwd(PID, TID, fs + b"/home/alice/project")

    path, resolved = absolute(b"../../bob/./.ssh//id_rsa", PID, TID, AT_FDCWD, proc.root)

    assert (path, resolved) == (fs + b"/home/bob/.ssh/id_rsa", True)


def test_relative_name_cannot_climb_above_the_root(proc: FakeProc) -> None:
    proc.thread_cwd(PID, TID, "/")

    assert absolute(b"../../../.env", PID, TID, AT_FDCWD, proc.root) == (b"/.env", True)


def test_relative_name_in_the_root_directory(proc: FakeProc) -> None:
    proc.thread_cwd(PID, TID, "/")

    assert absolute(b"id_rsa", PID, TID, AT_FDCWD, proc.root) == (b"/id_rsa", True)


def test_relative_name_below_a_symlinked_cwd(proc: FakeProc, fs: bytes) -> None:
    mkdir(fs + b"/srv/app")
    symlink(fs + b"/current", fs + b"/srv/app")
    proc.thread_cwd(PID, TID, fs + b"/current")

    assert absolute(b"config/.env", PID, TID, AT_FDCWD, proc.root) == (
        fs + b"/srv/app/config/.env",
        True,
    )


def test_thread_gone_falls_back_to_the_process_cwd(proc: FakeProc, fs: bytes) -> None:
    proc.process_cwd(PID, fs + b"/srv/app")

    assert absolute(b".env", PID, TID, AT_FDCWD, proc.root) == (fs + b"/srv/app/.env", True)


def test_cwd_that_is_not_utf8_is_kept_as_bytes(proc: FakeProc, fs: bytes) -> None:
    proc.thread_cwd(PID, TID, fs + b"/caf\xe9")

    assert absolute(b"id_rsa\xff", PID, TID, AT_FDCWD, proc.root) == (
        fs + b"/caf\xe9/id_rsa\xff",
        True,
    )


def test_relative_name_uses_the_directory_descriptor(proc: FakeProc, fs: bytes) -> None:
    proc.thread_cwd(PID, TID, fs + b"/not/this/one")
    proc.fd(PID, 7, fs + b"/home/alice/.aws")

    assert absolute(b"credentials", PID, TID, 7, proc.root) == (
        fs + b"/home/alice/.aws/credentials",
        True,
    )


def test_directory_descriptor_zero_is_a_descriptor(proc: FakeProc, fs: bytes) -> None:
    proc.fd(PID, 0, fs + b"/etc")

    assert absolute(b"shadow", PID, TID, 0, proc.root) == (fs + b"/etc/shadow", True)


def test_descriptor_that_is_not_a_directory_path_leaves_the_name(proc: FakeProc) -> None:
    proc.fd(PID, 3, "socket:[123456]")

    assert absolute(b"id_rsa", PID, TID, 3, proc.root) == (b"id_rsa", False)


def test_closed_descriptor_leaves_the_name(proc: FakeProc, fs: bytes) -> None:
    proc.thread_cwd(PID, TID, fs + b"/work")

    assert absolute(b"id_rsa", PID, TID, 9, proc.root) == (b"id_rsa", False)


def test_vanished_process_leaves_the_name_unresolved(proc: FakeProc) -> None:
    assert absolute(b"../.ssh/id_rsa", PID, TID, AT_FDCWD, proc.root) == (
        b"../.ssh/id_rsa",
        False,
    )
    assert absolute(b"id_rsa", PID, TID, 4, proc.root) == (b"id_rsa", False)


@pytest.mark.parametrize("dfd", [-1, -9, -99, -101, -(2**31)])
def test_negative_descriptor_other_than_at_fdcwd_leaves_the_name(proc: FakeProc, dfd: int) -> None:
    proc.thread_cwd(PID, TID, "/")
    proc.process_cwd(PID, "/")

    assert base_directory(PID, TID, dfd, proc.root) is None
    assert absolute(b"id_rsa", PID, TID, dfd, proc.root) == (b"id_rsa", False)


def test_base_directory_reads_the_links(proc: FakeProc) -> None:
    proc.thread_cwd(PID, TID, "/home/alice")
    proc.fd(PID, 4, "/etc/ssh")

    assert base_directory(PID, TID, AT_FDCWD, proc.root) == b"/home/alice"
    assert base_directory(PID, TID, 4, proc.root) == b"/etc/ssh"
    assert base_directory(PID + 1, TID, AT_FDCWD, proc.root) is None


def test_real_proc_resolves_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    pid = os.getpid()

    assert absolute(b"x/../y", pid, pid, AT_FDCWD) == (bytes(tmp_path.resolve()) + b"/y", True)
