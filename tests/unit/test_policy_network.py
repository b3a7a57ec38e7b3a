# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``network`` section: blocked networks, their normalisation, errors and matching."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import pytest

from bee_trace.policy import (
    BlockedNetwork,
    NetworkPolicy,
    Policy,
    PolicyError,
    parse_blocked,
    parse_policy,
)
from tests.unit.builders import DEFAULT_POLICY, REPO, listed, only_problem, parse, problems

EXPECTED = "expected an IP address or a network in CIDR notation"


def blocked(*entries: str) -> str:
    """A policy whose blocked_ips holds ``entries``, one per line from line 3."""
    return listed("network", "blocked_ips", *entries)


# valid sections


def test_full_section_parses_in_order_with_lines() -> None:
    policy = parse(
        """\
        network:
          blocked_ips:
            - 127.77.0.0/16
            - 10.0.0.5            # bare address
            - "2001:db8::/32"
            - "::1"
          enforce: true
        """,
    )
    entries = policy.network.blocked_ips
    assert [e.raw for e in entries] == ["127.77.0.0/16", "10.0.0.5", "2001:db8::/32", "::1"]
    assert [e.line for e in entries] == [3, 4, 5, 6]
    assert [e.network for e in entries] == [
        IPv4Network("127.77.0.0/16"),
        IPv4Network("10.0.0.5/32"),
        IPv6Network("2001:db8::/32"),
        IPv6Network("::1/128"),
    ]
    assert policy.network.enforce is True


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "version: 1",
        "network:",
        "network: {}",
        "network:\n  blocked_ips:",
        "network:\n  blocked_ips: []",
        "network:\n  blocked_ips:\n  # - 10.0.0.0/8\n",
    ],
)
def test_missing_or_empty_section_blocks_nothing(text: str) -> None:
    assert parse(text).network == NetworkPolicy(blocked_ips=(), enforce=False)


def test_defaults() -> None:
    assert Policy(source="x").network == NetworkPolicy()
    assert NetworkPolicy().blocked_ips == ()
    assert NetworkPolicy().enforce is False


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("true", True), ("no", False)])
def test_enforce_bool(value: str, *, expected: bool) -> None:
    assert parse(f"network:\n  enforce: {value}\n").network.enforce is expected


def test_everything_and_nothing_are_allowed() -> None:
    entries = parse(blocked("0.0.0.0/0", '"::/0"')).network.blocked_ips
    assert [e.network for e in entries] == [IPv4Network("0.0.0.0/0"), IPv6Network("::/0")]


# normalisation


@pytest.mark.parametrize(
    ("raw", "network"),
    [
        ("10.0.0.5", IPv4Network("10.0.0.5/32")),
        ("10.0.0.5/32", IPv4Network("10.0.0.5/32")),
        ("10.0.0.0/08", IPv4Network("10.0.0.0/8")),
        ("2001:db8::1", IPv6Network("2001:db8::1/128")),
        ("2001:DB8::/32", IPv6Network("2001:db8::/32")),
        ("::ffff:10.0.0.5", IPv4Network("10.0.0.5/32")),
        ("::ffff:10.0.0.0/104", IPv4Network("10.0.0.0/8")),
        ("::ffff:a00:0/104", IPv4Network("10.0.0.0/8")),
        ("::ffff:0.0.0.0/96", IPv4Network("0.0.0.0/0")),
        # shorter than /96 it spans more than the mapped range, so it stays IPv6
        ("::fffe:0:0/95", IPv6Network("::fffe:0:0/95")),
        ("::/0", IPv6Network("::/0")),
        # IPv4-compatible (deprecated) addresses are not mapped ones
        ("::10.0.0.5", IPv6Network("::a00:5/128")),
    ],
)
def test_parse_blocked_normalises(raw: str, network: IPv4Network | IPv6Network) -> None:
    assert parse_blocked(raw) == network


def test_mapped_range_widened_is_a_host_bits_error() -> None:
    with pytest.raises(ValueError, match=r"^host bits set: did you mean ::fffe:0:0/95\?$"):
        parse_blocked("::ffff:0:0/95")


def test_mapped_entry_is_stored_as_ipv4_and_keeps_what_was_written() -> None:
    (entry,) = parse(blocked('"::ffff:192.0.2.0/120"')).network.blocked_ips
    assert entry == BlockedNetwork("::ffff:192.0.2.0/120", 3, IPv4Network("192.0.2.0/24"))


def test_blocked_network_refuses_a_mapped_network() -> None:
    with pytest.raises(ValueError, match=r"IPv4-mapped; give it as 10\.0\.0\.0/8$"):
        BlockedNetwork("x", 1, IPv6Network("::ffff:a00:0/104"))


def test_blocked_network_parse() -> None:
    assert BlockedNetwork.parse("10.0.0.0/8", line=7) == BlockedNetwork(
        "10.0.0.0/8", 7, IPv4Network("10.0.0.0/8")
    )


# errors: invalid entries


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("10.0.0.0/33", "prefix length 33 is over 32, the longest for IPv4"),
        ("2001:db8::/129", "prefix length 129 is over 128, the longest for IPv6"),
        ("1.2.3", "not an IPv4 address: expected 4 octets"),
        ("1.2.3.4.5", "not an IPv4 address: expected 4 octets"),
        ("10.0.0.256", "not an IPv4 address: octet 256 (> 255) not permitted"),
        ("010.0.0.1", "not an IPv4 address: leading zeros are not permitted in '010'"),
        ("2001:db8:::1", "not an IPv6 address: at most one '::' permitted"),
        ("gggg::1", "not an IPv6 address: only hex digits permitted in 'gggg'"),
        ("10.0.0.1/8", "host bits set: did you mean 10.0.0.0/8?"),
        ("192.168.1.1/24", "host bits set: did you mean 192.168.1.0/24?"),
        ("2001:db8::1/32", "host bits set: did you mean 2001:db8::/32?"),
        ("::ffff:10.0.0.1/104", "host bits set: did you mean ::ffff:10.0.0.0/104?"),
        ("10.0.0.0/", "no prefix length after '/': write a number from 0 to 32"),
        ("/8", "no address before '/'"),
        ("10.0.0.0/8/8", "more than one '/'"),
        ("10.0.0.0/x", "prefix length 'x' is not a number from 0 to 32"),
        ("10.0.0.0/-1", "prefix length '-1' is not a number from 0 to 32"),
        ("10.0.0.0/\uff18", "prefix length '\uff18' is not a number from 0 to 32"),
        (
            "10.0.0.0/255.0.0.0",
            "write the prefix length as a number from 0 to 32, not as a mask",
        ),
        ("localhost", "host names are not resolved; write an IP address"),
        ("example.com/32", "host names are not resolved; write an IP address"),
        ("fe80::1%eth0", "scope IDs such as '%eth0' are not supported"),
        ("", "empty string"),
    ],
)
def test_parse_blocked_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason) + "$"):
        parse_blocked(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("10.0.0.0/33", "prefix length 33 is over 32, the longest for IPv4"),
        ("1.2.3", "not an IPv4 address: expected 4 octets"),
        ('"2001:db8::/129"', "prefix length 129 is over 128, the longest for IPv6"),
        ("10.0.0.1/8", "host bits set: did you mean 10.0.0.0/8?"),
        ("fe80::1%eth0", "scope IDs such as '%eth0' are not supported"),
    ],
)
def test_invalid_entry_names_line_index_and_reason(raw: str, reason: str) -> None:
    text = blocked("10.9.0.0/16", raw)
    shown = raw.strip('"')
    assert only_problem(text) == (
        f"p.yml:4: network.blocked_ips[1]: {EXPECTED}, found {shown!r} ({reason})"
    )


@pytest.mark.parametrize(
    ("item", "found"),
    [
        ('""', "an empty string"),
        ("", "no value"),
        ("3", "the integer 3"),
        ("10.5", "the number 10.5"),
        ("true", "the boolean true"),
        ("[10.0.0.1]", "a list"),
        ("{a: b}", "a mapping"),
    ],
)
def test_entry_must_be_a_non_empty_string(item: str, found: str) -> None:
    assert only_problem(blocked("10.9.0.0/16", item)) == (
        f"p.yml:4: network.blocked_ips[1]: expected a non-empty string, found {found}"
    )


def test_unquoted_ipv6_read_as_a_number_gets_a_hint() -> None:
    assert only_problem(blocked("1:2:3:4:5:6:7:8")) == (
        "p.yml:3: network.blocked_ips[0]: expected a non-empty string (quote IPv6 addresses: "
        "YAML reads some, such as 1:2:3:4:5:6:7:8, as numbers), found the integer 1:2:3:4:5:6:7:8"
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [("10.0.0.0/8", "the string '10.0.0.0/8'"), ("{a: 1}", "a mapping"), ("7", "the integer 7")],
)
def test_blocked_ips_must_be_a_list(value: str, found: str) -> None:
    assert only_problem(f"network:\n  blocked_ips: {value}\n") == (
        f"p.yml:2: network.blocked_ips: expected a list of IP addresses or networks, found {found}"
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("", "no value"),
        ("1", "the integer 1"),
        ('"true"', "the string 'true'"),
        ("[true]", "a list"),
    ],
)
def test_enforce_must_be_a_bool(value: str, found: str) -> None:
    assert only_problem(f"network:\n  blocked_ips: []\n  enforce: {value}\n") == (
        f"p.yml:3: network.enforce: expected true or false, found {found}"
    )


def test_unknown_key_in_network() -> None:
    assert only_problem("network:\n  blocked_ip: []\n") == (
        "p.yml:2: network.blocked_ip: expected one of the keys blocked_ips, enforce, "
        "found unknown key 'blocked_ip' (did you mean 'blocked_ips'?)"
    )


def test_network_must_be_a_mapping() -> None:
    assert only_problem("network:\n  - 10.0.0.0/8\n") == (
        "p.yml:2: network: expected a mapping with the keys blocked_ips, enforce, found a list"
    )


# duplicates


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8"),
        ("10.0.0.5", "10.0.0.5/32", "10.0.0.5/32"),
        ("10.0.0.0/8", "::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ('"2001:db8::/32"', '"2001:DB8:0::/32"', "2001:db8::/32"),
    ],
)
def test_duplicate_names_both_lines(first: str, second: str, same: str) -> None:
    text = blocked(first, "192.0.2.0/24", second)
    shown = second.strip('"')
    assert only_problem(text) == (
        f"p.yml:5: network.blocked_ips[2]: expected each network once ({same} is first on "
        f"line 3), found {shown!r} again"
    )


def test_each_duplicate_names_the_first() -> None:
    text = blocked("10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8")
    assert problems(text) == [
        (
            "p.yml:4: network.blocked_ips[1]: expected each network once (10.0.0.0/8 is first on "
            "line 3), found '10.0.0.0/8' again"
        ),
        (
            "p.yml:5: network.blocked_ips[2]: expected each network once (10.0.0.0/8 is first on "
            "line 3), found '10.0.0.0/8' again"
        ),
    ]


def test_overlapping_networks_are_not_duplicates() -> None:
    entries = parse(blocked("10.0.0.0/8", "10.1.0.0/16", "10.1.2.3")).network.blocked_ips
    assert len(entries) == 3


def test_ipv4_and_ipv6_all_are_not_duplicates() -> None:
    assert len(parse(blocked("0.0.0.0/0", '"::/0"')).network.blocked_ips) == 2


# every problem at once


def test_all_network_problems_in_line_order() -> None:
    text = """\
        network:
          blocked_ips:
            - 10.0.0.0/8
            - 10.0.0.1/8
            - 3
            - 10.0.0.0/8
            - 1.2.3
          enforce: maybe
          enforced: true
        """
    assert problems(text) == [
        (
            f"p.yml:4: network.blocked_ips[1]: {EXPECTED}, found '10.0.0.1/8' "
            "(host bits set: did you mean 10.0.0.0/8?)"
        ),
        "p.yml:5: network.blocked_ips[2]: expected a non-empty string, found the integer 3",
        (
            "p.yml:6: network.blocked_ips[3]: expected each network once (10.0.0.0/8 is first on "
            "line 3), found '10.0.0.0/8' again"
        ),
        (
            f"p.yml:7: network.blocked_ips[4]: {EXPECTED}, found '1.2.3' "
            "(not an IPv4 address: expected 4 octets)"
        ),
        "p.yml:8: network.enforce: expected true or false, found the string 'maybe'",
        (
            "p.yml:9: network.enforced: expected one of the keys blocked_ips, enforce, "
            "found unknown key 'enforced' (did you mean 'enforce'?)"
        ),
    ]


def test_every_problem_is_one_line() -> None:
    text = 'network:\n  blocked_ips: ["1.2.3.4\\n/8", "a\\nb", "10.0.0.0/\\n"]\n'
    found = problems(text)
    assert len(found) == 3
    for problem in found:
        assert "\n" not in problem


def test_long_entry_is_cut() -> None:
    raw = "1" * 200
    problem = only_problem(blocked(f'"{raw}"'))
    assert f"found {raw[:80]!r}... (not an IPv4 address: " in problem
    assert len(problem) < 300


# matching


def policy_of(*entries: str) -> NetworkPolicy:
    return NetworkPolicy(
        blocked_ips=tuple(BlockedNetwork.parse(raw, line) for line, raw in enumerate(entries, 1))
    )


def matched_raw(policy: NetworkPolicy, addr: IPv4Address | IPv6Address) -> str:
    """The entry that matches addr, as written; there must be one."""
    found = policy.match(addr)
    assert found is not None, addr
    return found.raw


@pytest.mark.parametrize(
    ("addr", "raw"),
    [
        ("10.1.2.3", "10.1.2.0/24"),
        ("10.1.9.9", "10.1.0.0/16"),
        ("10.9.9.9", "10.0.0.0/8"),
        ("10.1.2.7", "10.1.2.7"),
        ("11.0.0.1", "0.0.0.0/0"),
        ("2001:db8::1", "2001:db8::/32"),
        ("2001:db8:1::1", "2001:db8:1::/48"),
        ("2001:db9::1", None),
    ],
)
def test_match_longest_prefix_wins(addr: str, raw: str | None) -> None:
    policy = policy_of(
        "0.0.0.0/0", "10.0.0.0/8", "10.1.2.7", "10.1.0.0/16", "10.1.2.0/24", "2001:db8::/32",
        "2001:db8:1::/48",
    )  # fmt: skip
    found = policy.match(ip_address(addr))
    assert (found.raw if found else None) == raw


def test_match_is_by_prefix_not_order() -> None:
    assert matched_raw(policy_of("10.1.0.0/16", "10.0.0.0/8"), IPv4Address("10.1.0.1")) == (
        "10.1.0.0/16"
    )
    assert matched_raw(policy_of("10.0.0.0/8", "10.1.0.0/16"), IPv4Address("10.1.0.1")) == (
        "10.1.0.0/16"
    )


def test_match_returns_the_entry() -> None:
    policy = policy_of("192.0.2.0/24")
    assert policy.match(IPv4Address("192.0.2.9")) is policy.blocked_ips[0]


def test_match_nothing_when_empty() -> None:
    assert NetworkPolicy().match(IPv4Address("10.0.0.1")) is None
    assert NetworkPolicy().match(IPv6Address("::1")) is None


def test_mapped_address_is_matched_as_ipv4() -> None:
    policy = policy_of("10.0.0.0/8", "::/0")
    assert matched_raw(policy, IPv6Address("::ffff:10.1.2.3")) == "10.0.0.0/8"
    # the IPv6 default route does not cover mapped destinations: the kernel sees IPv4
    assert policy.match(IPv6Address("::ffff:11.1.2.3")) is None
    assert matched_raw(policy, IPv6Address("2001:db8::1")) == "::/0"


def test_mapped_entry_matches_plain_and_mapped_addresses() -> None:
    policy = policy_of("::ffff:192.0.2.0/120")
    assert matched_raw(policy, IPv4Address("192.0.2.1")) == "::ffff:192.0.2.0/120"
    assert matched_raw(policy, IPv6Address("::ffff:192.0.2.1")) == "::ffff:192.0.2.0/120"
    assert policy.match(IPv4Address("192.0.3.1")) is None


def test_families_do_not_cross() -> None:
    policy = policy_of("0.0.0.0/0")
    assert policy.match(IPv6Address("::1")) is None
    assert policy.match(IPv6Address("::a00:1")) is None  # IPv4-compatible is not mapped
    assert policy_of("::/0").match(IPv4Address("10.0.0.1")) is None


# the default policy


def test_default_policy_blocks_nothing_and_enforces_nothing() -> None:
    policy = parse_policy(DEFAULT_POLICY.read_text(encoding="utf-8"), str(DEFAULT_POLICY))
    assert policy.network == NetworkPolicy(blocked_ips=(), enforce=False)


def test_default_policy_examples_parse_when_uncommented() -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    section = text.split("\nnetwork:\n", 1)[1].split("\n\n", 1)[0]
    examples = re.findall(r"^  #     - (\S+)", section, flags=re.MULTILINE)
    assert examples
    policy = parse(blocked(*examples))
    assert len(policy.network.blocked_ips) == len(examples)


# the documentation


def test_docs_error_example_is_what_the_loader_says() -> None:
    text = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    example = text.split("string but not a valid entry gets the reason", 1)[1]
    policy_text, output = re.findall(r"```(?:yaml)?\n(.*?)```", example, flags=re.DOTALL)[:2]
    with pytest.raises(PolicyError) as caught:
        parse_policy(policy_text, "policy.yml")
    assert caught.value.lines() == output.splitlines()
