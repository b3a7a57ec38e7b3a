"""The policy's limits section: defaults, checks, and the kernel memory budget."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from bee_trace.cli import main
from bee_trace.errors import ExitCode
from bee_trace.policy import LimitsPolicy, parse_policy
from bee_trace.policy.loader import OTHER_MAPS_MAX_BYTES, RING_BUFFERS
from tests.unit.builders import policy_error

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1 << 20


def problems(text: str) -> list[str]:
    return policy_error(text).lines()


def test_defaults() -> None:
    limits = parse_policy("version: 1\n", "p.yml").limits
    assert limits == LimitsPolicy()
    assert limits.ring_buffer_bytes == 4 * MIB
    assert RING_BUFFERS * limits.ring_buffer_bytes + OTHER_MAPS_MAX_BYTES <= (
        limits.kernel_memory_bytes
    )


def test_every_limit_is_read() -> None:
    text = """\
        limits:
          ring_buffer_bytes: 1048576
          kernel_memory_bytes: 100000000
          user_memory_bytes: 200000000
          cpu_percent: 12.5
        """
    limits = parse_policy(textwrap.dedent(text), "p.yml").limits
    assert limits == LimitsPolicy(1 * MIB, 100_000_000, 200_000_000, 12.5)


def test_empty_section_is_the_defaults() -> None:
    assert parse_policy("limits:\n", "p.yml").limits == LimitsPolicy()


def test_integer_percent_is_a_number() -> None:
    assert parse_policy("limits:\n  cpu_percent: 30\n", "p.yml").limits.cpu_percent == 30.0


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("5000", "the integer 5000"),
        ("2048", "the integer 2048"),
        ("2147483648", "the integer 2147483648"),
        ("0", "the integer 0"),
        ("-4096", "the integer -4096"),
        ("4.0", "the number 4.0"),
        ('"4096"', "the string '4096'"),
    ],
)
def test_ring_buffer_must_be_a_power_of_two_in_range(value: str, found: str) -> None:
    assert problems(f"limits:\n  ring_buffer_bytes: {value}\n") == [
        (
            "p.yml:2: limits.ring_buffer_bytes: expected a power of two from 4096 (one page) to "
            f"1073741824 bytes, found {found}"
        )
    ]


@pytest.mark.parametrize("key", ["kernel_memory_bytes", "user_memory_bytes"])
@pytest.mark.parametrize(("value", "found"), [("0", "the integer 0"), ("yes", "the boolean yes")])
def test_memory_limits_are_positive_integers(key: str, value: str, found: str) -> None:
    lines = problems(f"limits:\n  {key}: {value}\n")
    assert lines[0] == (
        f"p.yml:2: limits.{key}: expected a positive integer number of bytes, found {found}"
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [("0", "the integer 0"), ("100.5", "the number 100.5"), ("x", "the string 'x'")],
)
def test_cpu_percent_is_a_share_of_one_cpu(value: str, found: str) -> None:
    assert problems(f"limits:\n  cpu_percent: {value}\n") == [
        (
            "p.yml:2: limits.cpu_percent: expected a number of percent of one CPU, more than 0 and "
            f"at most 100, found {found}"
        )
    ]


def test_ring_buffers_over_kernel_memory_name_the_ring_buffer_key() -> None:
    text = """\
        version: 1
        limits:
          kernel_memory_bytes: 67108864
          ring_buffer_bytes: 16777216
        """
    assert problems(text) == [
        (
            "p.yml:4: limits.ring_buffer_bytes: expected ring buffers that fit "
            "limits.kernel_memory_bytes (67108864): 3 x limits.ring_buffer_bytes + 33554432 for "
            "the other maps, found 83886080 bytes needed"
        )
    ]


def test_kernel_memory_too_small_for_the_default_buffers_names_that_key() -> None:
    assert problems("limits:\n  kernel_memory_bytes: 1000\n") == [
        (
            "p.yml:2: limits.kernel_memory_bytes: expected ring buffers that fit "
            "limits.kernel_memory_bytes (1000): 3 x limits.ring_buffer_bytes + 33554432 for the "
            "other maps, found 46137344 bytes needed"
        )
    ]


def test_bee_trace_refuses_to_start_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "big.yml"
    policy.write_text("limits:\n  ring_buffer_bytes: 67108864\n")

    code = main(["--config", str(policy), "--duration", "1"])

    assert code == ExitCode.USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"bee-trace: error: {policy}:2: limits.ring_buffer_bytes: ")
