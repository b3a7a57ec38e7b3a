"""The installed ``bee-trace`` command: exit codes, and one ``error:`` line per problem."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bee_trace import __version__, cli
from bee_trace.errors import ExitCode
from bee_trace.probes import PROBE_TYPES, PROBES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BEE_TRACE = Path(sys.executable).with_name("bee-trace")
ERROR_PREFIX = "bee-trace: error: "
VALID_POLICY = """\
version: 1
files:
  watch_read:
    - /etc/shadow
    - id_rsa
    - "*.pem"
"""
TWO_PROBLEMS = """\
version: 2
files:
  watch_read: 5
"""


def option_strings() -> list[str]:
    """Every option string the parser accepts, e.g. ``--probe-type`` and ``-v``."""
    actions = cli.build_parser()._actions  # noqa: SLF001 - argparse lists its options nowhere else
    return [option for action in actions for option in action.option_strings]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


def clean_env() -> dict[str, str]:
    """This environment without BEE_TRACE_LOG, which would add debug lines."""
    return {k: v for k, v in os.environ.items() if k != "BEE_TRACE_LOG"}


def bee_trace(*args: str | Path, cwd: Path, timeout_s: float = 60) -> Run:
    """Run the installed console script."""
    done = subprocess.run(
        [BEE_TRACE, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=timeout_s,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_error(run: Run, code: ExitCode, lines: int = 1) -> list[str]:
    """The run failed with code and exactly ``lines`` error lines; return their text."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code == code, run
    assert len(run.stderr_lines) == lines, run.stderr
    assert all(line.startswith(ERROR_PREFIX) for line in run.stderr_lines), run.stderr
    assert run.stdout == ""
    return [line.removeprefix(ERROR_PREFIX) for line in run.stderr_lines]


@pytest.fixture
def policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write a policy file in tmp_path and return its path."""

    def write(text: str, name: str = "policy.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def test_the_console_script_is_installed() -> None:
    assert BEE_TRACE.is_file(), f"{BEE_TRACE}: install the package into this environment"


# what needs no kernel: help, version, usage errors


def test_help_lists_every_flag(tmp_path: Path) -> None:
    run = bee_trace("--help", cwd=tmp_path)

    assert run.code == ExitCode.OK
    assert run.stderr == ""
    for option in option_strings():
        assert option in run.stdout, option
    assert "Exit codes:" in run.stdout


def test_version(tmp_path: Path) -> None:
    run = bee_trace("--version", cwd=tmp_path)

    assert run.code == ExitCode.OK
    assert run.stdout == f"bee-trace {__version__}\n"
    assert run.stderr == ""


def test_unknown_flag(tmp_path: Path) -> None:
    (line,) = assert_error(bee_trace("--bogus", cwd=tmp_path), ExitCode.USAGE)

    assert "unrecognized arguments: --bogus" in line
    assert "(see 'bee-trace --help')" in line


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("-1", "must be 0 (run until stopped) or more"),
        ("abc", "expected a number of seconds"),
        ("nan", "expected a finite number of seconds"),
        ("inf", "expected a finite number of seconds (0 runs until stopped)"),
    ],
)
def test_bad_duration(tmp_path: Path, value: str, says: str) -> None:
    (line,) = assert_error(bee_trace("--duration", value, cwd=tmp_path), ExitCode.USAGE)

    assert f"invalid duration {value!r}" in line
    assert says in line


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "must be more than 0 seconds"),
        ("-3", "must be more than 0 seconds"),
        ("inf", "must be more than 0 seconds"),
        ("soon", "expected a number of seconds"),
    ],
)
def test_bad_stats_interval(tmp_path: Path, value: str, says: str) -> None:
    run = bee_trace("--stats-interval", value, cwd=tmp_path)

    (line,) = assert_error(run, ExitCode.USAGE)
    assert f"invalid interval {value!r}: {says}" in line


def test_duration_needs_a_value(tmp_path: Path) -> None:
    (line,) = assert_error(bee_trace("--duration", cwd=tmp_path), ExitCode.USAGE)

    assert "--duration" in line


def test_unknown_probe_type(tmp_path: Path) -> None:
    run = bee_trace("--probe-type", "bogus", cwd=tmp_path)

    (line,) = assert_error(run, ExitCode.USAGE)
    assert "invalid choice: 'bogus'" in line
    assert "file_monitor" in line


def test_unknown_format(tmp_path: Path) -> None:
    (line,) = assert_error(bee_trace("--format", "xml", cwd=tmp_path), ExitCode.USAGE)

    assert "invalid choice: 'xml'" in line


# bee-trace with one probe type taken out of the registry, as in a version
# that announces it but does not implement it yet
WITHOUT_PROBE = """\
import sys
from bee_trace.cli import main
from bee_trace.probes import PROBES
PROBES.pop(sys.argv.pop(1), None)
sys.exit(main())
"""


@pytest.mark.parametrize("probe_type", [name for name in PROBE_TYPES if name != "file_monitor"])
def test_announced_probe_type_that_is_not_available_yet(tmp_path: Path, probe_type: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PROBE, probe_type, "--probe-type", probe_type],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=60,
        check=False,
    )

    (line,) = assert_error(Run(done.returncode, done.stdout, done.stderr), ExitCode.USAGE)
    available = ", ".join(name for name in PROBES if name != probe_type)
    assert line == (
        f"probe type {probe_type} is not available in bee-trace {__version__} "
        f"(available: {available})"
    )


# policy problems stop the run before the host is looked at


def test_missing_policy_file(tmp_path: Path) -> None:
    run = bee_trace("--config", tmp_path / "absent.yml", cwd=tmp_path)

    (line,) = assert_error(run, ExitCode.USAGE)
    assert line == f"{tmp_path / 'absent.yml'}: cannot read policy: No such file or directory"


def test_directory_as_policy(tmp_path: Path) -> None:
    (line,) = assert_error(bee_trace("--config", tmp_path, cwd=tmp_path), ExitCode.USAGE)

    assert line == f"{tmp_path}: cannot read policy: Is a directory"


def test_empty_policy(tmp_path: Path, policy: Callable[[str], Path]) -> None:
    path = policy("")

    (line,) = assert_error(bee_trace("--config", path, cwd=tmp_path), ExitCode.USAGE)
    assert line.startswith(f"{path}:1: (top level): expected a mapping")
    assert line.endswith("found an empty document")


def test_malformed_yaml_policy(tmp_path: Path, policy: Callable[[str], Path]) -> None:
    path = policy("files: [unclosed\n")

    (line,) = assert_error(bee_trace("--config", path, cwd=tmp_path), ExitCode.USAGE)
    assert line.startswith(f"{path}:2: invalid YAML")


def test_policy_with_two_problems_gets_two_lines(
    tmp_path: Path, policy: Callable[[str], Path]
) -> None:
    path = policy(TWO_PROBLEMS)

    first, second = assert_error(bee_trace("--config", path, cwd=tmp_path), ExitCode.USAGE, lines=2)
    assert first.startswith(f"{path}:1: version: ")
    assert second.startswith(f"{path}:3: files.watch_read: ")


# --check-config


def test_check_config_on_a_valid_policy(tmp_path: Path, policy: Callable[[str], Path]) -> None:
    path = policy(VALID_POLICY)

    run = bee_trace("--check-config", path, cwd=tmp_path)

    assert run.code == ExitCode.OK
    assert run.stdout == f"{path}: policy is valid (3 files.watch_read patterns)\n"
    assert run.stderr == ""


def test_check_config_on_an_invalid_policy(tmp_path: Path, policy: Callable[[str], Path]) -> None:
    path = policy(TWO_PROBLEMS)

    run = bee_trace("--check-config", path, cwd=tmp_path)

    assert_error(run, ExitCode.USAGE, lines=2)


def test_check_config_on_a_missing_file(tmp_path: Path) -> None:
    run = bee_trace("--check-config", tmp_path / "absent.yml", cwd=tmp_path)

    (line,) = assert_error(run, ExitCode.USAGE)
    assert "cannot read policy" in line


# needs root and the kernel: output is opened after the host checks


@pytest.mark.kernel
def test_output_into_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "events.log"

    run = bee_trace(
        "--probe-type", "file_monitor", "--duration", "1", "--output", target, cwd=tmp_path
    )

    (line,) = assert_error(run, ExitCode.OUTPUT)
    assert line == f"cannot open output {target}: No such file or directory"
    assert not target.parent.exists()


@pytest.mark.kernel
def test_a_short_run_says_ready_and_ends_with_a_summary(tmp_path: Path) -> None:
    events = tmp_path / "events.log"

    run = bee_trace(
        "--probe-type", "file_monitor", "--duration", "0.5", "--output", events, cwd=tmp_path
    )

    assert run.code == ExitCode.OK, run
    assert run.stdout == ""
    ready = "bee-trace: ready: file_monitor attached, policy <embedded>/security.yml"
    assert ready in run.stderr_lines
    last = run.stderr_lines[-1]
    assert last.startswith("bee-trace: summary: ran ")
    assert "; file_monitor: " in last
    assert "; total: " in last
    assert events.exists()


@pytest.mark.kernel
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    # a policy watching a file of its own: another process on the host opening
    # id_rsa files meanwhile cannot add events, drops or their warning lines
    policy = tmp_path / "policy.yml"
    policy.write_text(f"files:\n  watch_read:\n    - {tmp_path}/never-opened\n")
    argv: list[str | Path] = [
        BEE_TRACE,
        "--probe-type",
        "file_monitor",
        "--config",
        policy,
        "--output",
        tmp_path / "events.log",
    ]
    with subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    ) as proc:
        try:
            assert proc.stderr is not None
            before = []
            for line in proc.stderr:
                before.append(line)
                if line.startswith("bee-trace: ready: "):
                    break
            assert before, "bee-trace printed nothing"
            assert before[-1].startswith("bee-trace: ready: "), before
            proc.send_signal(signum)
            rest = proc.stderr.read()
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()

    assert code == ExitCode.OK, rest
    lines = rest.splitlines()
    assert lines[0] == f"bee-trace: received {signum.name}, stopping"
    assert lines[-1].startswith("bee-trace: summary: ")
    assert "Traceback" not in rest


# in process: the same paths, cheaply, for coverage


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """main() configures the bee_trace loggers; put them back for the other tests."""
    top = logging.getLogger("bee_trace")
    libbpf = logging.getLogger("bee_trace.bpf.libbpf")
    handlers, level, propagate, libbpf_level = (
        top.handlers[:],
        top.level,
        top.propagate,
        libbpf.level,
    )
    yield
    top.handlers[:] = handlers
    top.setLevel(level)
    top.propagate = propagate
    libbpf.setLevel(libbpf_level)


in_process = pytest.mark.usefixtures("restore_logging")


@in_process
def test_main_check_config_valid(
    policy: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy(VALID_POLICY)

    assert cli.main(["--check-config", str(path)]) == ExitCode.OK

    out, err = capsys.readouterr()
    assert out == f"{path}: policy is valid (3 files.watch_read patterns)\n"
    assert err == ""


@in_process
def test_main_check_config_invalid(
    policy: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy(TWO_PROBLEMS)

    assert cli.main(["--check-config", str(path)]) == ExitCode.USAGE

    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 2
    assert all(line.startswith(ERROR_PREFIX) for line in err.splitlines())


@in_process
def test_main_bad_policy_stops_before_the_host_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_run", lambda *_: pytest.fail("the run must not start"))

    assert cli.main(["--config", str(tmp_path / "absent.yml")]) == ExitCode.USAGE

    assert capsys.readouterr().err.startswith(ERROR_PREFIX)


@in_process
def test_main_probe_type_not_available_stops_before_the_host_checks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bee_trace.host import checks  # noqa: PLC0415 - cli imports it late, on purpose

    monkeypatch.setattr(checks, "check_host", lambda *_: pytest.fail("host was checked"))
    # as if this version had not implemented it yet
    monkeypatch.delitem(PROBES, "network_monitor", raising=False)

    assert cli.main(["--probe-type", "network_monitor"]) == ExitCode.USAGE

    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"{ERROR_PREFIX}probe type network_monitor is not available in bee-trace {__version__} "
        f"(available: {', '.join(PROBES)})"
    )


@in_process
@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--bogus"], ExitCode.USAGE),
        (["--duration", "-5"], ExitCode.USAGE),
        (["--version"], ExitCode.OK),
        (["--help"], ExitCode.OK),
    ],
)
def test_main_parser_exits(
    argv: list[str], code: ExitCode, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)

    assert caught.value.code == code
    err = capsys.readouterr().err
    if code != ExitCode.OK:
        assert err.startswith(ERROR_PREFIX)
        assert len(err.splitlines()) == 1


@in_process
@pytest.mark.parametrize(
    ("env", "verbose", "level", "libbpf_level"),
    [
        ("", False, logging.INFO, logging.WARNING),
        ("", True, logging.DEBUG, logging.WARNING),
        ("debug", False, logging.DEBUG, logging.DEBUG),
        ("DEBUG", True, logging.DEBUG, logging.DEBUG),
    ],
)
def test_logging_levels(
    monkeypatch: pytest.MonkeyPatch, env: str, *, verbose: bool, level: int, libbpf_level: int
) -> None:
    monkeypatch.setenv("BEE_TRACE_LOG", env)

    cli._setup_logging(verbose=verbose)  # noqa: SLF001 - the one place levels are chosen

    assert logging.getLogger("bee_trace").level == level
    assert logging.getLogger("bee_trace.bpf.libbpf").level == libbpf_level


def test_every_exit_code_is_distinct() -> None:
    assert len({int(code) for code in ExitCode}) == len(ExitCode)
    ok: int = ExitCode.OK  # as a process sees it; mypy takes the two literals for unequal
    assert ok == 0
