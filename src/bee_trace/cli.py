"""The ``bee-trace`` command: flags, exit codes, logging; wires the rest.

Every failure a user can cause or meet ends here as one ``error:`` line per
problem on standard error and a distinct exit code (see :class:`ExitCode`),
never as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from bee_trace import __version__
from bee_trace.errors import BeeTraceError, ExitCode, OutputError, UsageError
from bee_trace.outputs import FORMATS, Output, open_output
from bee_trace.outputs.summary import format_progress, format_summary
from bee_trace.policy import Policy, load_policy
from bee_trace.probes import PROBE_TYPES, PROBES, ProbeContext

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

if TYPE_CHECKING:
    from bee_trace.runtime import Monitor

log = logging.getLogger("bee_trace")

PROG = "bee-trace"
STATS_EVERY_S = 10.0
# after a stop signal, a write blocked this long means nobody reads the output
OUTPUT_STALL_S = 1.0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem, then exit with USAGE."""
        sys.stderr.write(f"{PROG}: error: {message} (see '{PROG} --help')\n")
        raise SystemExit(ExitCode.USAGE)


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"invalid duration {text!r}: expected a number of seconds"
        raise argparse.ArgumentTypeError(msg) from None
    if not math.isfinite(value):
        msg = (
            f"invalid duration {text!r}: expected a finite number of seconds (0 runs until stopped)"
        )
        raise argparse.ArgumentTypeError(msg)
    if value < 0:
        msg = f"invalid duration {text!r}: must be 0 (run until stopped) or more"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"invalid interval {text!r}: expected a number of seconds"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 < value < float("inf"):
        msg = f"invalid interval {text!r}: must be more than 0 seconds"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface; docs/cli.md is checked against it."""
    parser = _Parser(
        prog=PROG,
        description="Linux host security monitor built on eBPF.",
        epilog=(
            "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or policy, "
            "3 missing host requirement, 4 kernel program failed to load, "
            "5 output failed."
        ),
    )
    parser.add_argument(
        "--probe-type",
        choices=[*PROBE_TYPES, "all"],
        default="all",
        help="which probes to run (default: all)",
    )
    parser.add_argument(
        "--duration",
        type=_duration,
        default=0.0,
        metavar="SECONDS",
        help="stop after this many seconds; 0 or absent runs until SIGINT or SIGTERM",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="policy file (default: the policy embedded in the package)",
    )
    parser.add_argument(
        "--check-config",
        type=Path,
        metavar="PATH",
        help="validate a policy file and exit (0 valid, 2 invalid)",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="event format (default: text)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="append events to this file (default: standard output)",
    )
    parser.add_argument(
        "--enforce",
        action="store_true",
        help="deny connections to network.blocked_ips (as network.enforce: true does)",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="more diagnostics, and event and drop counts every --stats-interval seconds",
    )
    parser.add_argument(
        "--stats-interval",
        type=_positive_seconds,
        default=STATS_EVERY_S,
        metavar="SECONDS",
        help="with --verbose, how often to report event and drop counts (default: 10)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _setup_logging(*, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    root = logging.getLogger("bee_trace")
    root.handlers[:] = [handler]
    root.propagate = False
    debug = os.environ.get("BEE_TRACE_LOG", "").lower() == "debug"
    root.setLevel(logging.DEBUG if debug or verbose else logging.INFO)
    # libbpf's own chatter only when asked for by name
    logging.getLogger("bee_trace.bpf.libbpf").setLevel(logging.DEBUG if debug else logging.WARNING)


def _select_probes(probe_type: str) -> list[str]:
    if probe_type == "all":
        return [name for name in PROBE_TYPES if name in PROBES]
    if probe_type not in PROBES:
        available = ", ".join(PROBES)
        msg = (
            f"probe type {probe_type} is not available in bee-trace {__version__} "
            f"(available: {available})"
        )
        raise UsageError(msg)
    return [probe_type]


def _check_config(path: Path) -> int:
    policy = load_policy(path)
    sys.stdout.write(
        f"{path}: policy is valid ({len(policy.files.watch_read)} files.watch_read patterns)\n"
    )
    return ExitCode.OK


def _boot_to_utc_ns() -> int:
    """Offset from CLOCK_BOOTTIME (bpf_ktime_get_boot_ns) to UTC."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _announce(probe_type: str, names: list[str]) -> None:
    if probe_type == "all":
        absent = [name for name in PROBE_TYPES if name not in PROBES]
        log.info(
            "probe type all: starting %s%s",
            ", ".join(names),
            f" ({', '.join(absent)} not available in this version)" if absent else "",
        )


def _handle_signals(output: Output, stop: threading.Event) -> None:
    """SIGINT, SIGTERM and SIGHUP stop the run; a stalled output is then given up."""
    stopped_by: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log.info("received %s, stopping", name)
        stopped_by.append(name)
        stop.set()
        # from now on, check every second that the output is not stuck
        signal.setitimer(signal.ITIMER_REAL, OUTPUT_STALL_S, OUTPUT_STALL_S)

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        if output.busy_for() >= OUTPUT_STALL_S:
            # a write blocked on a reader that does not read: give up on it
            msg = f"output is not being read; stopped on {stopped_by[0]} without it"
            raise OutputError(msg)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)


def _finish(monitor: Monitor, output: Output, failure: BeeTraceError | None) -> int:
    """Detach, deliver or count what is left, print the summary, report a failure."""
    if isinstance(failure, OutputError):
        output.abandon()
    summary = monitor.stop()
    failure = failure or monitor.failure
    signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        output.close()
    except BeeTraceError as exc:
        failure = failure or exc
    for line in format_summary(summary):
        log.info("%s", line)
    if failure is not None:
        raise failure
    return ExitCode.OK


def _run(args: argparse.Namespace, policy: Policy) -> int:
    # imported here so that --help and --check-config need no libbpf
    from bee_trace.host.checks import check_host  # noqa: PLC0415
    from bee_trace.runtime import Monitor, run_until  # noqa: PLC0415

    names = _select_probes(args.probe_type)
    _announce(args.probe_type, names)
    network_enforce = "network_monitor" in names and (args.enforce or policy.network.enforce)
    check_host(network_enforce=network_enforce)

    ctx = ProbeContext(
        policy=policy,
        self_pid=os.getpid(),
        boot_to_utc_ns=_boot_to_utc_ns(),
        enforce=args.enforce,
    )
    output = open_output(args.format, args.output)
    monitor = Monitor([PROBES[name](ctx) for name in names], output)
    stop = threading.Event()
    _handle_signals(output, stop)

    def progress() -> None:
        log.info("%s", format_progress(monitor.stats()))

    failure: BeeTraceError | None = None
    try:
        monitor.start()
        log.info("ready: %s attached, policy %s", ", ".join(names), policy.source)
        deadline = time.monotonic() + args.duration if args.duration > 0 else None
        run_until(monitor, stop, deadline, progress if args.verbose else None, args.stats_interval)
    except BeeTraceError as exc:
        if not monitor.started:
            monitor.close()
            output.close()
            raise
        # a failure mid-run still ends with detaching and a summary
        failure = exc
    return _finish(monitor, output, failure)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bee-trace`` console script."""
    args = build_parser().parse_args(argv)
    _setup_logging(verbose=args.verbose)
    try:
        if args.check_config is not None:
            return _check_config(args.check_config)
        policy = load_policy(args.config)
        return _run(args, policy)
    except BeeTraceError as exc:
        for line in exc.lines():
            sys.stderr.write(f"{PROG}: error: {line}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        # Ctrl-C before the probes were attached: nothing to detach or report
        sys.stderr.write(f"{PROG}: interrupted before start-up finished\n")
        return 128 + signal.SIGINT
    except Exception as exc:  # a bug: still one line, the traceback only on request
        log.debug("internal error", exc_info=True)
        sys.stderr.write(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} "
            "(BEE_TRACE_LOG=debug shows the traceback; please report it)\n"
        )
        return int(ExitCode.RUNTIME)
