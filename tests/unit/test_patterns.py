# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""Watch-pattern matching and the kernel pre-filter keys derived from patterns."""

from __future__ import annotations

import os
import random

import pytest

from bee_trace.policy import (
    FILTER_KEY_MAX,
    FilePolicy,
    FilterKey,
    FilterKind,
    InvalidPatternError,
    WatchPattern,
    kernel_filter_keys,
)
from bee_trace.policy.patterns import compile_glob, filter_key, validate_pattern


def pattern(raw: str) -> WatchPattern:
    return WatchPattern.parse(raw, line=1)


def kernel_accepts(key: FilterKey, path: bytes) -> bool:
    """What the kernel program checks: the basename, or the parent directory's name."""
    parent, _, basename = path.rpartition(b"/")
    dirname = parent.rpartition(b"/")[2]
    if key.kind is FilterKind.NAME:
        return basename == key.value
    if key.kind is FilterKind.SUFFIX:
        return basename.endswith(key.value)
    if key.kind is FilterKind.PREFIX:
        return basename.startswith(key.value)
    return dirname == key.value


# kinds


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("/etc/shadow", "path"),
        ("id_rsa", "name"),
        (".env", "name"),
        ("x]y", "name"),
        ("*.pem", "glob"),
        ("id_?sa", "glob"),
        ("id_[rd]sa", "glob"),
        ("/home/*/.aws/credentials", "glob"),
        ("/srv/**/.env", "glob"),
    ],
)
def test_kind(raw: str, kind: str) -> None:
    assert validate_pattern(raw) == kind
    assert pattern(raw).kind == kind


def test_kind_must_agree_with_the_pattern() -> None:
    with pytest.raises(ValueError, match="is of kind 'name', not 'path'"):
        WatchPattern("id_rsa", "path", 1)


def test_invalid_pattern_cannot_be_built() -> None:
    with pytest.raises(InvalidPatternError, match="absolute path or a bare file name"):
        WatchPattern("a/b", "path", 1)


def test_pattern_that_is_not_encodable() -> None:
    with pytest.raises(InvalidPatternError, match="encodable as a file name"):
        validate_pattern("bad\ud800name")


def test_equal_patterns_compare_and_hash_equal() -> None:
    assert pattern("*.pem") == pattern("*.pem")
    assert len({pattern("*.pem"), pattern("*.pem")}) == 1
    assert "_regex" not in repr(pattern("*.pem"))


# matching


@pytest.mark.parametrize(
    ("raw", "path", "expected"),
    [
        # bare names: that exact basename, in any directory
        ("id_rsa", b"/home/a/.ssh/id_rsa", True),
        ("id_rsa", b"/id_rsa", True),
        ("id_rsa", b"/tmp/x/y/z/id_rsa", True),
        ("id_rsa", b"/home/a/.ssh/not_id_rsa", False),
        ("id_rsa", b"/home/a/.ssh/id_rsa.pub", False),
        ("id_rsa", b"/home/a/id_rsa/other", False),
        (".env", b"/srv/app/.env", True),
        (".env", b"/srv/app/.env.local", False),
        # absolute paths: the whole real path
        ("/etc/shadow", b"/etc/shadow", True),
        ("/etc/shadow", b"/etc/shadow-", False),
        ("/etc/shadow", b"/chroot/etc/shadow", False),
        ("/etc/shadow", b"/etc/gshadow", False),
        # basename globs: the basename, in any directory
        ("*.pem", b"/etc/ssl/a.pem", True),
        ("*.pem", b"/a.pem", True),
        ("*.pem", b"/x/.pem", True),
        ("*.pem", b"/x/a.pem/b", False),
        ("*.pem", b"/x/a.pem.bak", False),
        ("id_*", b"/h/.ssh/id_rsa", True),
        ("id_*", b"/h/id_/x", False),
        # '*' does not cross '/'
        ("/home/*/.aws/credentials", b"/home/alice/.aws/credentials", True),
        ("/home/*/.aws/credentials", b"/home/a/b/.aws/credentials", False),
        ("/home/*/.aws/credentials", b"/home/.aws/credentials", False),
        ("/etc/sudoers.d/*", b"/etc/sudoers.d/90-users", True),
        ("/etc/sudoers.d/*", b"/etc/sudoers.d/a/b", False),
        # '?' is one character, never '/'
        ("id_?sa", b"/x/id_rsa", True),
        ("id_?sa", b"/x/id_sa", False),
        ("id_?sa", b"/x/id_rrsa", False),
        ("/a?b/x", b"/a/b/x", False),
        ("caf?", "/x/café".encode(), True),
        ("caf?", b"/x/caf\xff", True),
        ("/x/?", "/x/€".encode(), True),
        ("/x/?", "/x/😀".encode(), True),
        # '[...]' is one character from a set, never '/'
        ("id_[rd]sa", b"/x/id_rsa", True),
        ("id_[rd]sa", b"/x/id_dsa", True),
        ("id_[rd]sa", b"/x/id_esa", False),
        ("id_[!rd]sa", b"/x/id_esa", True),
        ("id_[^rd]sa", b"/x/id_rsa", False),
        ("id_[!rd]sa", "/x/id_ésa".encode(), True),
        ("key[0-9]", b"/x/key7", True),
        ("key[0-9]", b"/x/keya", False),
        ("x[]a]", b"/d/x]", True),
        ("x[]a]", b"/d/xa", True),
        ("x[a-]", b"/d/x-", True),
        ("x[!]]", b"/d/x]", False),
        ("x[*]", b"/d/x*", True),
        ("x[*]", b"/d/xy", False),
        ("/a[!x]b/c", b"/a/b/c", False),
        # '**' matches whole components, zero or more
        ("/srv/**/.env", b"/srv/.env", True),
        ("/srv/**/.env", b"/srv/a/.env", True),
        ("/srv/**/.env", b"/srv/a/b/c/.env", True),
        ("/srv/**/.env", b"/srvx/.env", False),
        ("/srv/**/.env", b"/srv/a/.env/x", False),
        ("/**/.ssh/id_*", b"/.ssh/id_rsa", True),
        ("/**/.ssh/id_*", b"/home/a/.ssh/id_rsa", True),
        ("/srv/**/**/.env", b"/srv/.env", True),
        ("/srv/**/**/.env", b"/srv/a/b/.env", True),
        ("/srv/a**b/.env", b"/srv/axyb/.env", True),
        ("/srv/a**b/.env", b"/srv/ax/yb/.env", False),
        # other regex characters are literal
        ("a.b", b"/x/aXb", False),
        ("*.b+c", b"/x/y.b+c", True),
        ("*(1)", b"/x/a(1)", True),
        ("\\*x", b"/d/*x", False),
        ("\\*x", b"/d/\\x", True),
    ],
)
def test_matches(raw: str, path: bytes, *, expected: bool) -> None:
    assert pattern(raw).matches(path) is expected


@pytest.mark.parametrize(
    ("raw", "path", "expected"),
    [
        ("id_rsa", b"/home/\xff\xfe/.ssh/id_rsa", True),
        ("*.pem", b"/x/\xff.pem", True),
        ("/home/*/.aws/credentials", b"/home/\xc3\x28/.aws/credentials", True),
        ("/srv/**/.env", b"/srv/\x80/\n/.env", True),
        ("*.key", b"/x/a\nb.key", True),
        ("/etc/shadow", b"/etc/shado\xff", False),
        ("caf\udce9", b"/x/caf\xe9", True),
    ],
)
def test_matches_paths_that_are_not_utf8(raw: str, path: bytes, *, expected: bool) -> None:
    assert pattern(raw).matches(path) is expected


def test_non_ascii_literal_pattern_matches_its_utf8_bytes() -> None:
    assert pattern("clé.key").matches("/x/clé.key".encode())
    assert pattern("/srv/données/*.env").matches("/srv/données/a.env".encode())


def test_compile_glob_final_double_star_is_one_or_more_components() -> None:
    regex = compile_glob("/etc/**")
    assert regex.fullmatch(b"/etc/a")
    assert regex.fullmatch(b"/etc/a/b")
    assert not regex.fullmatch(b"/etc")
    assert not regex.fullmatch(b"/etc/")


def test_file_policy_match_returns_the_first_matching_pattern() -> None:
    first, second = pattern("*.key"), pattern("/etc/ssl/private/*")
    policy = FilePolicy(watch_read=(first, second))
    assert policy.match(b"/etc/ssl/private/a.key") is first
    assert policy.match(b"/etc/ssl/private/a.pem") is second
    assert policy.match(b"/etc/ssl/certs/a.pem") is None
    assert FilePolicy().match(b"/etc/shadow") is None


# filter keys


LONG = "k" * (FILTER_KEY_MAX + 5)


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        # no wildcard in the basename: NAME
        ("id_rsa", FilterKind.NAME, b"id_rsa"),
        ("/etc/shadow", FilterKind.NAME, b"shadow"),
        ("/home/*/.aws/credentials", FilterKind.NAME, b"credentials"),
        ("/srv/**/.env", FilterKind.NAME, b".env"),
        ("clé", FilterKind.NAME, "clé".encode()),
        ("n" * FILTER_KEY_MAX, FilterKind.NAME, b"n" * FILTER_KEY_MAX),
        # ... but too long for the kernel: PREFIX of its first bytes
        ("n" * (FILTER_KEY_MAX + 1), FilterKind.PREFIX, b"n" * FILTER_KEY_MAX),
        ("/d/" + LONG, FilterKind.PREFIX, LONG.encode()[:FILTER_KEY_MAX]),
        # ends with a literal run: SUFFIX
        ("*.pem", FilterKind.SUFFIX, b".pem"),
        ("/etc/ssh/ssh_host_*_key", FilterKind.SUFFIX, b"_key"),
        ("id_?sa", FilterKind.SUFFIX, b"sa"),
        ("[ab]x", FilterKind.SUFFIX, b"x"),
        ("a*]b", FilterKind.SUFFIX, b"]b"),
        ("*" + LONG, FilterKind.SUFFIX, LONG.encode()[-FILTER_KEY_MAX:]),
        ("*x" + "é" * 40, FilterKind.SUFFIX, ("x" + "é" * 40).encode()[-FILTER_KEY_MAX:]),
        # starts with a literal run only: PREFIX
        ("id_*", FilterKind.PREFIX, b"id_"),
        ("/home/*/.ssh/id_*", FilterKind.PREFIX, b"id_"),
        ("*.pe[mM]", None, None),
        ("key.pe[mM]", FilterKind.PREFIX, b"key.pe"),
        ("x?", FilterKind.PREFIX, b"x"),
        (LONG + "*", FilterKind.PREFIX, LONG.encode()[:FILTER_KEY_MAX]),
        # wildcards at both ends: DIRNAME of a literal parent
        ("/etc/sudoers.d/*", FilterKind.DIRNAME, b"sudoers.d"),
        ("/home/*/.ssh/*", FilterKind.DIRNAME, b".ssh"),
        ("/srv/**/.ssh/*key*", FilterKind.DIRNAME, b".ssh"),
        ("/etc/ssl/private/[ab]", FilterKind.DIRNAME, b"private"),
        ("/" + "d" * FILTER_KEY_MAX + "/*", FilterKind.DIRNAME, b"d" * FILTER_KEY_MAX),
    ],
)
def test_filter_key(raw: str, kind: FilterKind | None, value: bytes | None) -> None:
    if kind is None:
        with pytest.raises(InvalidPatternError):
            filter_key(raw)
        return
    assert value is not None  # a pattern with a kind has a key value
    assert filter_key(raw) == FilterKey(kind, value)
    assert 1 <= len(value) <= FILTER_KEY_MAX


@pytest.mark.parametrize(
    "raw",
    [
        "*",
        "**",
        "*x*",
        "?",
        "[ab]",
        "*.pe[mM]",
        "/*",
        "/home/*/*",
        "/home/*/*x*",
        "/srv/**/*",
        "/srv/[ab]/?",
        "/etc/**",
        "/**",
    ],
)
def test_patterns_without_a_filter_key_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidPatternError, match=r"^pattern cannot be pre-filtered in the kernel"):
        validate_pattern(raw)


def test_final_double_star_says_why() -> None:
    with pytest.raises(InvalidPatternError, match="a final '\\*\\*' reaches files at any depth"):
        validate_pattern("/etc/ssl/private/**")


def test_parent_too_long_for_a_dirname_key_is_rejected() -> None:
    with pytest.raises(InvalidPatternError, match=f"longer than {FILTER_KEY_MAX} bytes"):
        validate_pattern("/" + "d" * (FILTER_KEY_MAX + 1) + "/*")


def test_kernel_filter_keys_are_deduplicated_in_first_seen_order() -> None:
    patterns = [
        pattern(raw)
        for raw in [
            "/root/.kube/config",
            "*.key",
            "/home/*/.kube/config",
            "/etc/kubernetes/pki/*.key",
            "/etc/sudoers.d/*",
        ]
    ]
    assert kernel_filter_keys(patterns) == (
        FilterKey(FilterKind.NAME, b"config"),
        FilterKey(FilterKind.SUFFIX, b".key"),
        FilterKey(FilterKind.DIRNAME, b"sudoers.d"),
    )
    assert kernel_filter_keys([]) == ()


@pytest.mark.parametrize("value", [b"", b"x" * (FILTER_KEY_MAX + 1)])
def test_filter_key_value_length_is_checked(value: bytes) -> None:
    with pytest.raises(ValueError, match="filter key value must be"):
        FilterKey(FilterKind.NAME, value)


def test_filter_kind_values_are_the_kernel_constants() -> None:
    assert {kind.name: int(kind) for kind in FilterKind} == {
        "NAME": 1,
        "SUFFIX": 2,
        "PREFIX": 3,
        "DIRNAME": 4,
        "HANDOFF": 5,
    }


# the pre-filter lets through a superset of what the pattern matches

SUPERSET_PATTERNS = [
    "id_rsa",
    ".env",
    "/etc/shadow",
    "n" * 70,
    "*.pem",
    "*.key",
    "id_*",
    "id_?sa",
    "id_[rd]sa",
    "x[!a-c]",
    "*" + "s" * 70,
    "p" * 70 + "*",
    "caf?",
    "/home/*/.aws/credentials",
    "/etc/ssh/ssh_host_*_key",
    "/etc/sudoers.d/*",
    "/home/*/.ssh/*",
    "/srv/**/.env",
    "/srv/**/.ssh/*key*",
    "/**/.ssh/id_*",
    "/etc/ssl/private/[ab]*",
    "/d/?x?/*.conf",
]

# pieces that wildcards expand to: ASCII, dots, UTF-8 and bytes that are not UTF-8
PIECES = [b"a", b"b", b"x", b".", b"-", b"key", "é".encode(), b"\xff", b"\x80", b"s", b"p"]
CHARS = [b"a", b"c", b"x", b".", "é".encode(), "😀".encode(), b"\xfe"]
NAMES = [b"id_rsa", b".ssh", b"a.pem", b"x", b"etc", b"private", b"sudoers.d", b"\xff.key"]


def expand_component(component: str, rng: random.Random) -> bytes:
    """Return one name that the component (never '**') matches."""
    out = b""
    i = 0
    while i < len(component):
        char = component[i]
        if char == "*":
            out += b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))
            i += 1
        elif char == "?":
            out += rng.choice(CHARS)
            i += 1
        elif char == "[":
            end = component.index("]", i + 2)
            members = component[i + 1 : end]
            if members.startswith("!"):
                out += rng.choice([c for c in CHARS if c not in (b"a", b"b", b"c")])
            else:
                out += rng.choice(members).encode()
            i = end + 1
        else:
            out += os.fsencode(char)
            i += 1
    return out


def expand(raw: str, rng: random.Random) -> bytes:
    """Return a real path that the pattern matches."""
    if not raw.startswith("/"):
        dirs = [rng.choice(NAMES) for _ in range(rng.randint(0, 3))]
        return b"/" + b"/".join([*dirs, expand_component(raw, rng)])
    parts: list[bytes] = []
    for component in raw[1:].split("/"):
        if component == "**":
            parts.extend(rng.choice(NAMES) for _ in range(rng.randint(0, 3)))
        else:
            parts.append(expand_component(component, rng))
    return b"/" + b"/".join(parts)


def random_path(rng: random.Random) -> bytes:
    return b"/" + b"/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 5)))


@pytest.mark.parametrize("raw", SUPERSET_PATTERNS)
def test_filter_key_accepts_every_path_the_pattern_matches(raw: str) -> None:
    rng = random.Random(raw)  # noqa: S311 - seeded for reproducible paths, not secrets
    watch = pattern(raw)
    key = filter_key(raw)
    for _ in range(300):
        path = expand(raw, rng)
        assert watch.matches(path), path
        assert kernel_accepts(key, path), path
    for _ in range(300):
        path = random_path(rng)
        if watch.matches(path):
            assert kernel_accepts(key, path), path


def test_superset_holds_for_every_default_style_pattern_and_path_pair() -> None:
    rng = random.Random(7)  # noqa: S311 - seeded for reproducible paths, not secrets
    watches = [pattern(raw) for raw in SUPERSET_PATTERNS]
    paths = [expand(raw, rng) for raw in SUPERSET_PATTERNS for _ in range(20)]
    matched = 0
    for watch in watches:
        key = filter_key(watch.raw)
        for path in paths:
            if watch.matches(path):
                matched += 1
                assert kernel_accepts(key, path), (watch.raw, path)
    assert matched >= len(paths)


def test_an_empty_pattern_is_invalid() -> None:
    with pytest.raises(InvalidPatternError, match="empty"):
        validate_pattern("")
