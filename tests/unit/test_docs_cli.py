"""docs/cli.md against the parser and the exit codes, so the reference cannot drift."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bee_trace.cli import build_parser
from bee_trace.errors import ExitCode
from bee_trace.host.checks import missing_privileges

DOCS = Path(__file__).resolve().parents[2] / "docs"
CLI_MD = DOCS / "cli.md"

_FLAG = re.compile(r"`(--?[A-Za-z][A-Za-z0-9-]*)`")
_CODE = re.compile(r"`([^`]+)`")
_CELL_SEP = re.compile(r"(?<!\\)\|")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def actions() -> list[argparse.Action]:
    return build_parser()._actions  # noqa: SLF001 - argparse lists its options nowhere else


def section(text: str, heading: str) -> str:
    """The body of one ``## heading`` section."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert m, f"{CLI_MD.name} has no '## {heading}' section"
    return m.group(1)


def table_rows(body: str) -> list[list[str]]:
    """The cells of a Markdown table's data rows (header and rule left out)."""
    rows = [line for line in body.splitlines() if line.startswith("|")]
    assert len(rows) > 2, "expected a table"
    return [[cell.strip() for cell in _CELL_SEP.split(row.strip()[1:-1])] for row in rows[2:]]


def options_table() -> dict[str, list[str]]:
    """Each row of the options table, by every option string its first cell names."""
    by_option: dict[str, list[str]] = {}
    for row in table_rows(section(CLI_MD.read_text(), "Options")):
        for option in _FLAG.findall(row[0]):
            by_option[option] = row
    return by_option


def action_for(option: str) -> argparse.Action:
    return next(a for a in actions() if option in a.option_strings)


def test_every_option_of_the_parser_has_a_row() -> None:
    table = options_table()

    missing = [o for a in actions() for o in a.option_strings if o not in table]
    assert not missing, f"options missing from the table in {CLI_MD.name}: {missing}"


def test_every_flag_the_table_mentions_exists() -> None:
    known = {o for a in actions() for o in a.option_strings}
    body = "\n".join(
        line for line in section(CLI_MD.read_text(), "Options").splitlines() if line[:1] == "|"
    )

    unknown = sorted(set(_FLAG.findall(body)) - known)
    assert not unknown, f"{CLI_MD.name} documents options the parser lacks: {unknown}"


def test_every_option_string_appears_in_backticks() -> None:
    text = CLI_MD.read_text()

    for action in actions():
        for option in action.option_strings:
            assert f"`{option}`" in text, option


@pytest.mark.parametrize(
    "option",
    [a.option_strings[0] for a in build_parser()._actions if a.choices],  # noqa: SLF001
)
def test_every_choice_is_documented_in_its_row(option: str) -> None:
    row = options_table()[option]

    documented = set(_CODE.findall(row[1]))
    assert documented == {str(c) for c in action_for(option).choices or ()}, row


@pytest.mark.parametrize(
    "option",
    [
        a.option_strings[0]
        for a in build_parser()._actions  # noqa: SLF001 - see actions()
        if isinstance(a.default, str | int | float)
        and not isinstance(a.default, bool)
        and a.default != argparse.SUPPRESS
    ],
)
def test_defaults_match(option: str) -> None:
    default = action_for(option).default
    row = options_table()[option]

    (written,) = _CODE.findall(row[2]) or [row[2]]
    if isinstance(default, str):
        assert written == default, row
    else:
        assert float(written) == default, row


@pytest.mark.parametrize(
    "option",
    [
        a.option_strings[0]
        for a in build_parser()._actions  # noqa: SLF001 - see actions()
        if isinstance(a, argparse._StoreTrueAction)  # noqa: SLF001 - no public name for it
    ],
)
def test_switches_are_documented_as_off_by_default(option: str) -> None:
    assert options_table()[option][2] == "off"


def test_every_exit_code_is_documented_by_value_and_name() -> None:
    documented: dict[int, str] = {}
    for row in table_rows(section(CLI_MD.read_text(), "Exit codes")):
        (value,) = _CODE.findall(row[0])
        (name,) = _CODE.findall(row[1])
        documented[int(value)] = name

    assert documented == {int(code): code.name for code in ExitCode}


def test_the_environment_variable_is_documented() -> None:
    body = section(CLI_MD.read_text(), "Environment")

    assert "`BEE_TRACE_LOG=debug`" in body


@pytest.mark.parametrize("name", ["cli.md", "troubleshooting.md", "install.md"])
def test_relative_links_lead_somewhere(name: str) -> None:
    text = (DOCS / name).read_text()

    for target in _LINK.findall(text):
        if "://" in target:
            continue
        file_part, _, anchor = target.partition("#")
        path = (DOCS / file_part).resolve() if file_part else DOCS / name
        assert path.exists(), f"{name}: link to {target}: no such file"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path.read_text()), f"{name}: link to {target}: no heading"


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes for a document's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


# every capability message the docs quote is one bee-trace prints
_CAP_LINE = re.compile(r"missing requirement: (capability CAP_[A-Z_]+[^\n`|]*)")


@pytest.mark.parametrize("name", ["cli.md", "troubleshooting.md"])
def test_quoted_capability_messages_are_the_real_ones(name: str) -> None:
    every = missing_privileges(0, network_enforce=True)
    quoted = _CAP_LINE.findall((DOCS / name).read_text())
    # a quote that wraps in prose is checked as far as its first line goes
    assert quoted
    for line in quoted:
        assert any(real.startswith(line.rstrip()) for real in every), (line, every)
