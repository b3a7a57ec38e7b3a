"""The narrow exceptions each layer raises, and the exit code each maps to.

The CLI is the only place that turns these into a message and an exit code;
every other layer raises one of them ``from`` its cause.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, one per kind of failure."""

    OK = 0
    RUNTIME = 1
    USAGE = 2
    HOST_REQUIREMENT = 3
    LOAD = 4
    OUTPUT = 5


class BeeTraceError(Exception):
    """Base of every error bee-trace reports to its user."""

    exit_code: ExitCode = ExitCode.RUNTIME

    def lines(self) -> list[str]:
        """Return the message as one or more lines, one per problem."""
        return [str(self)]


class UsageError(BeeTraceError):
    """A bad command line or a bad policy file."""

    exit_code = ExitCode.USAGE


class HostRequirementError(BeeTraceError):
    """The host lacks something bee-trace needs; one line per missing thing."""

    exit_code = ExitCode.HOST_REQUIREMENT

    def __init__(self, missing: list[str]) -> None:
        """Keep every missing requirement so each gets its own line."""
        super().__init__("; ".join(missing))
        self.missing = list(missing)

    def lines(self) -> list[str]:
        """One line per missing requirement."""
        return [f"missing requirement: {item}" for item in self.missing]


class LoadError(BeeTraceError):
    """A kernel program or map could not be opened, loaded or attached."""

    exit_code = ExitCode.LOAD
    errno: int | None = None


class OutputError(BeeTraceError):
    """The chosen output could not be opened or written."""

    exit_code = ExitCode.OUTPUT
    # of a batch that failed, the events written in full before the failure
    written: int = 0
