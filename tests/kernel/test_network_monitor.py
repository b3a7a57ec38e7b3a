"""network_monitor on the real kernel, with traffic only to loopback.

A module-wide bee-trace watches with a policy blocking 127.77.0.0/16 and
fd00:beef::/32 (never routed: the tests only connect to 127.77.0.1, which
is on loopback). Enforcement gets its own runs.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from tests.kernel.helpers import (
    OWN_PAGE_PRELUDE,
    BeeTrace,
    as_int,
    program_ids_of,
    traced_child,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("arg_source")]

WAIT_S = 10.0
BLOCKED_HOST = "127.77.0.1"


class Net:
    def __init__(self, bee: BeeTrace) -> None:
        self.bee = bee

    def events(self) -> list[dict[str, object]]:
        text = self.bee.output.read_text() if self.bee.output.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def wait_for(self, pid: int, n: int = 1, timeout: float = WAIT_S) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events() if e["pid"] == pid]
            if len(found) >= n:
                return found
            time.sleep(0.05)
        pytest.fail(f"fewer than {n} events for pid {pid}: {self.events()[-5:]}")


def _child(code: str) -> tuple[int, str]:
    """Run Python code in a child; return (pid, what it printed last)."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import os, socket, errno\n{code}\nprint(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    lines = proc.stdout.strip().splitlines()
    return int(lines[-1]), "\n".join(lines[:-1])


@pytest.fixture(scope="module")
def tcp_server() -> Iterator[int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, arg_source: str) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("net")
    policy = root / "policy.yml"
    policy.write_text("network:\n  blocked_ips:\n    - 127.77.0.0/16\n    - fd00:beef::/32\n")
    with BeeTrace(
        "--probe-type", "network_monitor", "--config", str(policy), output=root / "net.jsonl"
    ) as bee:
        # three exit programs, and where they keep the arguments, three entry ones
        assert len(program_ids_of(bee.pid)) == (6 if arg_source == "entry" else 3)
        yield Net(bee)
        run = bee.stop()
    assert run.returncode == 0, run.stderr


def test_tcp_connect_to_a_listening_port(net: Net, tcp_server: int) -> None:
    pid, _ = _child(f"s = socket.create_connection(('127.0.0.1', {tcp_server})); s.close()")
    (event,) = net.wait_for(pid)
    assert event["type"] == "network_connection"
    assert event["syscall"] == "connect"
    assert event["family"] == "AF_INET"
    assert event["protocol"] == "tcp"
    assert event["daddr"] == "127.0.0.1"
    assert event["dport"] == tcp_server
    assert event["result"] == 0
    assert event["comm"] == "python3" or str(event["comm"]).startswith("python")
    assert event["blocked"] is False
    assert event["action"] == "allowed"


def test_tcp_connect_to_a_closed_port(net: Net) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # bound, not listening: connects are refused
    port = holder.getsockname()[1]
    try:
        pid, _ = _child(
            f"s = socket.socket()\ntry: s.connect(('127.0.0.1', {port}))\n"
            "except ConnectionRefusedError: pass"
        )
    finally:
        holder.close()
    (event,) = net.wait_for(pid)
    assert event["result_name"] == "ECONNREFUSED"
    assert event["dport"] == port


def test_ipv6_loopback_and_ipv4_mapped(net: Net) -> None:
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    try:
        pid6, _ = _child(
            f"s = socket.socket(socket.AF_INET6); s.connect(('::1', {port})); s.close()"
        )
        pid_mapped, _ = _child(
            "s = socket.socket(socket.AF_INET6)\n"
            f"s.connect(('::ffff:127.0.0.1', {port})); s.close()"
        )
    finally:
        srv.close()
    (e6,) = net.wait_for(pid6)
    assert (e6["family"], e6["daddr"], e6["dport"]) == ("AF_INET6", "::1", port)
    (em,) = net.wait_for(pid_mapped)
    assert (em["family"], em["daddr"], em["dport"]) == ("AF_INET", "127.0.0.1", port)


def test_non_blocking_connect_reports_einprogress(net: Net, tcp_server: int) -> None:
    pid, printed = _child(
        "s = socket.socket(); s.setblocking(False)\n"
        f"print(s.connect_ex(('127.0.0.1', {tcp_server})))"
    )
    (event,) = net.wait_for(pid)
    assert int(printed) == errno.EINPROGRESS
    assert event["result_name"] == "EINPROGRESS"


def test_udp_sends_are_aggregated_with_a_count(net: Net) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    try:
        pid, _ = _child(
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for _ in range(200): s.sendto(b'x', ('127.0.0.1', {port}))\n"
            "import time; time.sleep(0.1)\n"
            f"for _ in range(50): s.sendmsg([b'y'], [], 0, ('127.0.0.1', {port}))"
        )
    finally:
        rx.close()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        events = [e for e in net.events() if e["pid"] == pid]
        if sum(as_int(e["count"]) for e in events) >= 250:
            break
        time.sleep(0.1)
    by_call: dict[str, int] = {}
    for e in events:
        assert e["protocol"] == "udp"
        assert e["dport"] == port
        by_call[str(e["syscall"])] = by_call.get(str(e["syscall"]), 0) + as_int(e["count"])
    assert by_call == {"sendto": 200, "sendmsg": 50}
    assert len(events) < 20, "repeated sends must be folded, not one event each"


def test_udplite_and_af_unspec_destinations_are_reported(net: Net) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    try:
        pid_lite, _ = _child(
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136)\n"
            f"s.sendto(b'x', ('127.0.0.1', {port}))"
        )
        # sin_family AF_UNSPEC on an IPv4 socket: the kernel sends it as IPv4
        pid_unspec, _ = _child(
            "import ctypes, struct\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"sa = struct.pack('!HH4s8x', 0, {port}, socket.inet_aton('127.0.0.1'))\n"
            "sa = struct.pack('=H', 0) + sa[2:]\n"
            "n = libc.sendto(s.fileno(), b'y', 1, 0, sa, len(sa))\n"
            "assert n == 1, ctypes.get_errno()"
        )
    finally:
        rx.close()
    (lite,) = net.wait_for(pid_lite)
    assert (lite["protocol"], lite["daddr"], lite["dport"]) == ("udplite", "127.0.0.1", port)
    (unspec,) = net.wait_for(pid_unspec)
    assert (unspec["family"], unspec["daddr"], unspec["dport"]) == ("AF_INET", "127.0.0.1", port)


def test_blocked_destination_is_flagged(net: Net) -> None:
    srv = socket.socket()
    srv.bind((BLOCKED_HOST, 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    try:
        pid, _ = _child(f"s = socket.create_connection(({BLOCKED_HOST!r}, {port})); s.close()")
    finally:
        srv.close()
    (event,) = net.wait_for(pid)
    assert event["blocked"] is True
    assert event["rule"] == "127.77.0.0/16"
    assert event["result"] == 0
    assert event["action"] == "allowed"


_UDPLITE_CREATE = (
    "try:\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136)\n    print('created')\n"
    "except PermissionError:\n    print('EPERM')"
)


def _enforce_connect(port: int) -> tuple[int, str]:
    return _child(
        "s = socket.socket()\n"
        f"try:\n    s.connect(({BLOCKED_HOST!r}, {port}))\n    print('connected')\n"
        "except PermissionError:\n    print('EPERM')\n"
        "ok = socket.socket(); ok.connect(('127.0.0.1', int(os.environ['OK_PORT'])))\n"
        "print('ok')"
    )


def test_enforcement_denies_and_is_gone_after_exit(tmp_path: Path, tcp_server: int) -> None:
    srv = socket.socket()
    srv.bind((BLOCKED_HOST, 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    os.environ["OK_PORT"] = str(tcp_server)
    policy = tmp_path / "policy.yml"
    policy.write_text("network:\n  blocked_ips:\n    - 127.77.0.0/16\n")
    try:
        with BeeTrace(
            "--probe-type",
            "network_monitor",
            "--config",
            str(policy),
            "--enforce",
            output=tmp_path / "out.jsonl",
        ) as bee:
            pid, printed = _enforce_connect(port)
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                text = bee.output.read_text() if bee.output.exists() else ""
                events = [json.loads(x) for x in text.splitlines()]
                mine = [e for e in events if e["pid"] == pid]
                if len(mine) >= 2:
                    break
                time.sleep(0.05)
            # UDP-Lite cannot be created while enforcing (no connect hook covers it)
            _, lite = _child(_UDPLITE_CREATE)
            run = bee.stop()
        assert lite == "EPERM"
        _, lite_after = _child(_UDPLITE_CREATE)
        assert lite_after == "created"
        assert run.returncode == 0, run.stderr
        assert printed.splitlines() == ["EPERM", "ok"]
        denied = next(e for e in mine if e["daddr"] == BLOCKED_HOST)
        assert denied["result_name"] == "EPERM"
        assert denied["blocked"] is True
        assert denied["action"] == "denied"
        allowed = next(e for e in mine if e["daddr"] == "127.0.0.1")
        assert allowed["action"] == "allowed"
        # bee-trace has exited: nothing denies any more
        _, after = _enforce_connect(port)
        assert after.splitlines() == ["connected", "ok"]
    finally:
        srv.close()
        del os.environ["OK_PORT"]


# --- a destination changed in the caller's memory while the call runs ---

# The child connects to 127.0.0.1:PORT from a sockaddr in a page of its own,
# which a second thread unmaps, or rewrites to a family no socket takes and
# another address, while the connect waits: its SYN was dropped (the
# listener's accept queue is full) and is sent again a second later.
_UNMAPPING_CONNECT = (
    OWN_PAGE_PRELUDE
    + """
libc.connect.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
sa = struct.pack("!HH4s8x", socket.AF_INET, int(sys.argv[1]), socket.inet_aton("127.0.0.1"))
ctypes.memmove(page, struct.pack("=H", socket.AF_INET) + sa[2:], len(sa))
s = socket.socket()
def change():
    if sys.argv[2] == "unmap":
        libc.munmap(page, 4096)
    elif sys.argv[2] == "inet6":
        # an IPv6 family on 16 bytes: too short to read as a destination
        ctypes.memmove(page, struct.pack("=H", socket.AF_INET6), 2)
    else:
        bogus = struct.pack("!HH4s", 0x7777, 9, socket.inet_aton("127.0.0.9"))
        ctypes.memmove(page, bogus, len(bogus))
threading.Timer(0.2, change).start()
rc = libc.connect(s.fileno(), page, len(sa))
print(rc, ctypes.get_errno())
"""
)


def _full_listener() -> tuple[socket.socket, socket.socket]:
    """A loopback listener whose accept queue one connection fills."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    filler = socket.create_connection(srv.getsockname())
    return srv, filler


def _changing_connect(port: int, how: str) -> subprocess.Popen[str]:
    code = f"import os, socket, errno\n{_UNMAPPING_CONNECT}\nprint(os.getpid())"
    return subprocess.Popen(
        [sys.executable, "-c", code, str(port), how], stdout=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("how", ["unmap", "rewrite", "inet6"])
def test_a_connect_that_went_ahead_is_named_from_its_socket(net: Net, how: str) -> None:
    srv, filler = _full_listener()
    with srv, filler:
        port = srv.getsockname()[1]
        child = _changing_connect(port, how)
        time.sleep(0.5)
        srv.accept()[0].close()  # room in the queue for the SYN sent again
        out, _ = child.communicate(timeout=30)
    rc, pid = out.split("\n")[0], int(out.split("\n")[1])
    assert rc.split()[0] == "0"
    (event,) = net.wait_for(pid)
    assert (event["daddr"], event["dport"], event["result"]) == ("127.0.0.1", port, 0)


@pytest.mark.parametrize("how", ["unmap", "rewrite", "inet6"])
def test_a_refused_connect_whose_sockaddr_changed_is_counted(
    tmp_path: Path, arg_source: str, how: str
) -> None:
    with BeeTrace("--probe-type", "network_monitor", output=tmp_path / "net.jsonl") as bee:
        srv, filler = _full_listener()
        with filler:
            child = _changing_connect(srv.getsockname()[1], how)
            time.sleep(0.5)
            srv.close()  # the SYN sent again finds the port closed
            out, _ = child.communicate(timeout=30)
        pid = int(out.split("\n")[1])
        assert out.split()[:2] == ["-1", str(errno.ECONNREFUSED)]
        time.sleep(0.3)
        run = bee.stop()
    assert run.returncode == 0, run.stderr
    mine = [e for e in run.events if e["pid"] == pid]
    if arg_source == "entry":
        # read at the entry, before the change: reported as usual
        assert [e["result_name"] for e in mine] == ["ECONNREFUSED"]
    else:
        # unreadable at the exit and no socket peer to go by: a counted drop
        assert mine == []
        # (the one event is the filler's connect, from this process)
        assert "network_monitor: 1 event, 1 dropped" in run.stderr


def test_a_connect_to_port_zero_is_reported(net: Net) -> None:
    # UDP connects to port 0 succeed; the socket's peer has port 0, not none
    pid, _ = _child(
        f"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.connect(('{BLOCKED_HOST}', 0))"
    )
    (event,) = net.wait_for(pid)
    assert (event["daddr"], event["dport"], event["result"]) == (BLOCKED_HOST, 0, 0)
    assert event["blocked"] is True


def test_sends_without_a_destination_are_neither_events_nor_drops(tmp_path: Path) -> None:
    # to the connected peer (not an explicit destination), and with none on
    # an unconnected socket (the kernel refuses it: EDESTADDRREQ)
    code = (
        "import os, socket, errno\n"
        "rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "rx.bind(('127.0.0.1', 0))\n"
        "c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "c.connect(rx.getsockname())\n"
        "c.send(b'x')\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n    u.send(b'y')\nexcept OSError as e:\n    assert e.errno == errno.EDESTADDRREQ\n"
        "print(os.getpid())"
    )
    run, out = traced_child(("--probe-type", "network_monitor"), tmp_path / "n.jsonl", code)
    mine = [e for e in run.events if e["pid"] == int(out)]
    # only the connect is an event
    assert [e["syscall"] for e in mine] == ["connect"]
    assert re.search(r"network_monitor: \d+ events?, 0 dropped", run.stderr), run.stderr
