# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""Reading and validating policy files: every problem, its line and key path."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from bee_trace.errors import ExitCode, UsageError
from bee_trace.policy import (
    SCHEMA,
    FilePolicy,
    Policy,
    PolicyError,
    WatchPattern,
    kernel_filter_keys,
    load_policy,
    parse_policy,
)
from bee_trace.policy import loader as loader_module
from tests.unit.builders import DEFAULT_POLICY, REPO, SOURCE, parse, policy_error

if TYPE_CHECKING:
    from pathlib import Path

TOP_KEYS = "version, files, network, memory, limits"


def problems(text: str) -> list[str]:
    error = policy_error(text)
    assert error.lines() == error.problems
    return error.problems


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# valid policies


def test_full_policy_parses_in_order_with_lines() -> None:
    policy = parse(
        """\
        version: 1
        files:
          watch_read:
            - /etc/shadow
            - id_rsa
            - "*.pem"
            - "/home/*/.aws/credentials"
        """,
    )
    assert policy.source == SOURCE
    patterns = policy.files.watch_read
    assert [p.raw for p in patterns] == [
        "/etc/shadow",
        "id_rsa",
        "*.pem",
        "/home/*/.aws/credentials",
    ]
    assert [p.kind for p in patterns] == ["path", "name", "glob", "glob"]
    assert [p.line for p in patterns] == [4, 5, 6, 7]


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "version: 1",
        "files: {}",
        "files:",
        "files:\n  watch_read:",
        "files:\n  watch_read: []",
        "files:\n  watch_read:\n  # - id_rsa\n",
    ],
)
def test_missing_or_empty_watch_list_is_allowed(text: str) -> None:
    assert parse(text).files == FilePolicy(watch_read=())


def test_policy_defaults_to_no_files() -> None:
    assert Policy(source="x").files.watch_read == ()


# errors: shape of the document


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_document(text: str) -> None:
    assert only_problem(text) == (
        f"p.yml:1: (top level): expected a mapping with the keys {TOP_KEYS}, "
        "found an empty document"
    )


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- id_rsa\n", "a list"),
        ("id_rsa\n", "the string 'id_rsa'"),
        ("\n\n42\n", "the integer 42"),
    ],
)
def test_top_level_not_a_mapping(text: str, found: str) -> None:
    line = 3 if text.startswith("\n") else 1
    assert only_problem(text) == (
        f"p.yml:{line}: (top level): expected a mapping with the keys {TOP_KEYS}, found {found}"
    )


def test_unknown_top_level_key() -> None:
    assert only_problem("version: 1\nprocesses: {}\n") == (
        f"p.yml:2: processes: expected one of the keys {TOP_KEYS}, found unknown key 'processes'"
    )


def test_unknown_key_suggests_a_close_one() -> None:
    assert only_problem("fils: {}\n") == (
        f"p.yml:1: fils: expected one of the keys {TOP_KEYS}, "
        "found unknown key 'fils' (did you mean 'files'?)"
    )


def test_unknown_nested_key() -> None:
    text = """\
        files:
          watch_read: []
          watch_reed: []
        """
    assert only_problem(text) == (
        "p.yml:3: files.watch_reed: expected one of the keys watch_read, "
        "found unknown key 'watch_reed' (did you mean 'watch_read'?)"
    )


def test_dotted_key_is_not_a_shortcut_for_nesting() -> None:
    assert only_problem('"files.watch_read": []\n') == (
        f"p.yml:1: 'files.watch_read': expected one of the keys {TOP_KEYS}, "
        "found unknown key 'files.watch_read'"
    )


def test_key_that_is_not_a_scalar() -> None:
    text = """\
        files:
          ? [a, b]
          : 1
        """
    assert only_problem(text) == "p.yml:2: files: expected a key name, found a list"


def test_duplicate_top_level_key() -> None:
    text = """\
        files: {}
        version: 1
        files:
          watch_read: [id_rsa]
        """
    assert only_problem(text) == (
        "p.yml:3: files: expected each key once (first on line 1), found it again"
    )


def test_duplicate_nested_key() -> None:
    text = """\
        files:
          watch_read: [id_rsa]

          watch_read: [id_dsa]
        """
    assert only_problem(text) == (
        "p.yml:4: files.watch_read: expected each key once (first on line 2), found it again"
    )


# errors: wrong types


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("2", "the integer 2"),
        ('"1"', "the string '1'"),
        ("1.0", "the number 1.0"),
        ("true", "the boolean true"),
        ("", "no value"),
        ("[1]", "a list"),
    ],
)
def test_version_must_be_one(value: str, found: str) -> None:
    assert only_problem(f"files: {{}}\nversion: {value}\n") == (
        f"p.yml:2: version: expected the integer 1, the only schema version, found {found}"
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [("[id_rsa]", "a list"), ("id_rsa", "the string 'id_rsa'"), ("3", "the integer 3")],
)
def test_files_must_be_a_mapping(value: str, found: str) -> None:
    assert only_problem(f"version: 1\nfiles: {value}\n") == (
        f"p.yml:2: files: expected a mapping with the keys watch_read, found {found}"
    )


def test_files_as_block_list_names_the_line_of_the_list() -> None:
    text = """\
        files:
          - id_rsa
        """
    assert only_problem(text) == (
        "p.yml:2: files: expected a mapping with the keys watch_read, found a list"
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [("id_rsa", "the string 'id_rsa'"), ("{a: 1}", "a mapping"), ("7", "the integer 7")],
)
def test_watch_read_must_be_a_list(value: str, found: str) -> None:
    assert only_problem(f"files:\n  watch_read: {value}\n") == (
        f"p.yml:2: files.watch_read: expected a list of patterns, found {found}"
    )


@pytest.mark.parametrize(
    ("item", "found"),
    [
        ("3", "the integer 3"),
        ("", "no value"),
        ("null", "no value"),
        ('""', "an empty string"),
        ("yes", "the boolean yes"),
        ("[a, b]", "a list"),
        ("{a: b}", "a mapping"),
        ("!!binary aGVsbG8=", "a value tagged 'tag:yaml.org,2002:binary' ('aGVsbG8=')"),
    ],
)
def test_watch_read_items_must_be_non_empty_strings(item: str, found: str) -> None:
    text = f"files:\n  watch_read:\n    - id_rsa\n    - {item}\n"
    assert only_problem(text) == (
        f"p.yml:4: files.watch_read[1]: expected a non-empty string, found {found}"
    )


# errors: invalid patterns


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("foo/bar", "pattern must be an absolute path or a bare file name"),
        ("home/*/.ssh/id_rsa", "pattern must be an absolute path or a bare file name"),
        ("/etc/", "pattern must name a file, so it must not end with '/'"),
        ("/", "pattern must name a file, so it must not end with '/'"),
        ("/etc//shadow", "pattern must not contain an empty component ('//')"),
        (
            "/etc/./shadow",
            "pattern must not contain '.' or '..' components, since real paths have none",
        ),
        (
            "/etc/../shadow",
            "pattern must not contain '.' or '..' components, since real paths have none",
        ),
        ("..", "pattern must not contain '.' or '..' components, since real paths have none"),
        ("[abc", "pattern must close every '[' with a ']' in the same component"),
        ("/etc/[ab/x", "pattern must close every '[' with a ']' in the same component"),
        ("x[]", "pattern must close every '[' with a ']' in the same component"),
        ("x[z-a]", "pattern must write ranges low to high, as in '[a-z]', not 'z-a'"),
        ("x[é]", "pattern must use only ASCII characters inside '[...]'"),
        ("x[[:alpha:]]", "pattern must not use POSIX classes such as '[:alpha:]' inside '[...]'"),
    ],
)
def test_invalid_pattern(pattern: str, expected: str) -> None:
    text = f"files:\n  watch_read:\n    - id_rsa\n    - '{pattern}'\n"
    assert only_problem(text) == f"p.yml:4: files.watch_read[1]: {expected}, found {pattern!r}"


def test_pattern_with_nul() -> None:
    text = 'files:\n  watch_read: ["a\\0b"]\n'
    assert only_problem(text) == (
        "p.yml:2: files.watch_read[0]: pattern must not contain a NUL character, found 'a\\x00b'"
    )


NOT_PREFILTERABLE = (
    "pattern cannot be pre-filtered in the kernel: its file name must begin or end with "
    "a literal character, or its parent directory must be literal"
)


@pytest.mark.parametrize("pattern", ["*", "*x*", "?", "**", "[ab]", "/*", "/home/*/*", "/a/**/*"])
def test_pattern_the_kernel_cannot_prefilter(pattern: str) -> None:
    text = f"files:\n  watch_read:\n    - '{pattern}'\n"
    expected = f"p.yml:3: files.watch_read[0]: {NOT_PREFILTERABLE}, found {pattern!r}"
    assert only_problem(text) == expected


def test_final_double_star_is_rejected_even_under_a_literal_parent() -> None:
    problem = only_problem("files:\n  watch_read: ['/etc/ssl/**']\n")
    assert problem.startswith(f"p.yml:2: files.watch_read[0]: {NOT_PREFILTERABLE}; a final '**'")
    assert problem.endswith(", found '/etc/ssl/**'")


def test_long_found_value_is_cut() -> None:
    pattern = "a/" + "b" * 200
    problem = only_problem(f"files:\n  watch_read: ['{pattern}']\n")
    assert problem.endswith(f"found {pattern[:80]!r}...")


# every problem at once


def test_all_problems_are_reported_in_line_order() -> None:
    text = """\
        version: 2
        files:
          watch_read:
            - /etc/shadow
            - foo/bar
            - 3
            - "*"
          watch_read: []
          extra: 1
        processes: {}
        """
    assert problems(text) == [
        "p.yml:1: version: expected the integer 1, the only schema version, found the integer 2",
        (
            "p.yml:5: files.watch_read[1]: pattern must be an absolute path or a bare file name, "
            "found 'foo/bar'"
        ),
        "p.yml:6: files.watch_read[2]: expected a non-empty string, found the integer 3",
        f"p.yml:7: files.watch_read[3]: {NOT_PREFILTERABLE}, found '*'",
        "p.yml:8: files.watch_read: expected each key once (first on line 3), found it again",
        "p.yml:9: files.extra: expected one of the keys watch_read, found unknown key 'extra'",
        f"p.yml:10: processes: expected one of the keys {TOP_KEYS}, found unknown key 'processes'",
    ]


def test_every_problem_is_one_line() -> None:
    text = 'files:\n  watch_read: ["a\\nb/c", "x\\ny\\n"]\n"a\\nb": 1\n'
    for problem in problems(text):
        assert "\n" not in problem


# malformed YAML


def test_malformed_yaml_names_the_problem_line() -> None:
    text = """\
        version: 1
        files:
          watch_read: [id_rsa
        other: 1
        """
    problem = only_problem(text)
    assert re.fullmatch(r"p\.yml:4: invalid YAML at column \d+: .*", problem), problem


def test_bad_indentation() -> None:
    problem = only_problem("files:\n  watch_read: []\n bad: 1\n")
    assert problem.startswith("p.yml:3: invalid YAML at column 2: "), problem


def test_unquoted_star_glob_gets_a_hint() -> None:
    problem = only_problem("files:\n  watch_read:\n    - *.pem\n")
    assert problem.startswith("p.yml:3: invalid YAML at column 8: "), problem
    assert problem.endswith("""; quote patterns that start with '*', as in "*.pem\"""")


def test_two_documents_are_malformed() -> None:
    problem = only_problem("version: 1\n---\nversion: 1\n")
    assert problem.startswith("p.yml:2: invalid YAML"), problem


def test_control_character() -> None:
    problem = only_problem("version: 1\nfiles: \x01\n")
    assert problem == (
        "p.yml:2: invalid YAML: special characters are not allowed, found the character U+0001"
    )


# reading files


def test_load_policy_from_file(tmp_path: Path) -> None:
    path = tmp_path / "security.yml"
    path.write_text("files:\n  watch_read: [id_rsa]\n", encoding="utf-8")
    policy = load_policy(path)
    assert policy.source == str(path)
    assert [p.raw for p in policy.files.watch_read] == ["id_rsa"]


def test_problems_name_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "security.yml"
    path.write_text("files:\n  watch_read: [a/b]\n", encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.lines() == [
        (
            f"{path}:2: files.watch_read[0]: pattern must be an absolute path or a bare file name, "
            "found 'a/b'"
        ),
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.lines() == [f"{path}: cannot read policy: No such file or directory"]
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    assert caught.value.lines() == [f"{tmp_path}: cannot read policy: Is a directory"]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"version: 1\n# caf\xe9\nfiles: {}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.lines() == [f"{path}:2: expected UTF-8 text, found the byte 0xe9"]


def test_policy_error_is_a_usage_error() -> None:
    error = PolicyError(["a", "b"])
    assert isinstance(error, UsageError)
    assert error.exit_code == ExitCode.USAGE
    assert error.lines() == ["a", "b"]
    assert str(error) == "a\nb"


def test_embedded_policy_is_read_from_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "security.yml").write_text("files:\n  watch_read: [id_rsa]\n", encoding="utf-8")
    monkeypatch.setattr(loader_module, "resources", SimpleNamespace(files=lambda _: tmp_path))
    policy = load_policy()
    assert policy.source == "<embedded>/security.yml"
    assert [p.raw for p in policy.files.watch_read] == ["id_rsa"]


def test_embedded_policy_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_module, "resources", SimpleNamespace(files=lambda _: tmp_path))
    with pytest.raises(PolicyError) as caught:
        load_policy()
    assert caught.value.lines() == [
        "<embedded>/security.yml: cannot read policy: No such file or directory",
    ]


# the default policy

REQUIRED_DEFAULT_PATTERNS = [
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    "/etc/ssh/ssh_host_*_key",
    ".env",
    ".env.local",
    ".env.production",
    "/root/.aws/credentials",
    "/home/*/.aws/credentials",
    "application_default_credentials.json",
    "credentials.db",
    "access_tokens.db",
    "/home/*/.azure/accessTokens.json",
    "/root/.azure/accessTokens.json",
    "msal_token_cache.json",
    "/home/*/.kube/config",
    "/root/.kube/config",
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/pki/*.key",
    "/root/.docker/config.json",
    "/home/*/.docker/config.json",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d/*",
    "*.key",
    "/etc/ssl/private/*",
    "privkey.pem",
    ".netrc",
    ".pgpass",
    ".git-credentials",
]


def default_policy() -> Policy:
    return parse_policy(DEFAULT_POLICY.read_text(encoding="utf-8"), str(DEFAULT_POLICY))


def test_default_policy_watches_the_required_files() -> None:
    raws = [p.raw for p in default_policy().files.watch_read]
    assert sorted(set(REQUIRED_DEFAULT_PATTERNS) - set(raws)) == []
    assert len(raws) == len(set(raws))


def test_default_policy_leaves_out_plain_pem() -> None:
    raws = {p.raw for p in default_policy().files.watch_read}
    assert "*.pem" not in raws


@pytest.mark.parametrize(
    "path",
    [
        b"/home/alice/.ssh/id_ed25519",
        b"/etc/ssh/ssh_host_ed25519_key",
        b"/srv/app/.env.production",
        b"/home/bob/.aws/credentials",
        b"/root/.config/gcloud/application_default_credentials.json",
        b"/home/bob/.kube/config",
        b"/etc/kubernetes/pki/ca.key",
        b"/etc/sudoers.d/90-cloud-init-users",
        b"/etc/ssl/private/ssl-cert-snakeoil.key",
        b"/etc/letsencrypt/archive/example.org/privkey.pem",
    ],
)
def test_default_policy_matches_typical_secret_paths(path: bytes) -> None:
    assert default_policy().files.match(path) is not None


@pytest.mark.parametrize(
    "path",
    [
        b"/etc/ssl/certs/ca-certificates.crt",
        b"/etc/ssl/certs/ISRG_Root_X1.pem",
        b"/home/alice/.ssh/id_ed25519.pub",
        b"/home/alice/.ssh/known_hosts",
        b"/home/alice/.aws/config",
        b"/home/alice/project/.git/config",
        b"/etc/passwd",
    ],
)
def test_default_policy_ignores_common_non_secrets(path: bytes) -> None:
    assert default_policy().files.match(path) is None


def test_default_policy_has_kernel_filter_keys() -> None:
    patterns = default_policy().files.watch_read
    assert 0 < len(kernel_filter_keys(patterns)) <= len(patterns)


# the schema and its documentation


def test_schema_types_and_descriptions_are_filled() -> None:
    for key_path, spec in SCHEMA.items():
        assert spec.type, key_path
        assert spec.description.endswith("."), key_path


def test_docs_keys_table_lists_exactly_the_schema() -> None:
    text = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    section = text.split("\n## Keys\n", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)
    assert documented == list(SCHEMA)


def test_watch_pattern_records_line() -> None:
    policy = parse("files:\n  watch_read:\n\n    - id_rsa\n")
    assert policy.files.watch_read == (WatchPattern("id_rsa", "name", 4),)
