"""Unit-test set-up: what the probes would ask the kernel, answered here."""

from __future__ import annotations

import jsonschema
import pytest

from bee_trace.outputs import jsonl
from bee_trace.probes import base, file


@pytest.fixture(autouse=True)
def kernel_with_task_regs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests see a kernel with task BTF and bpf_task_pt_regs, whatever runs them."""
    monkeypatch.setattr(base, "task_regs_missing", lambda _environ: None)
    monkeypatch.setattr(file, "task_btf_missing", lambda _environ: None)


@pytest.fixture
def kernel_without_task_regs(monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel before 5.15: entry programs keep each call's arguments."""
    why = "the kernel has no bpf_task_pt_regs (Linux 5.15)"
    monkeypatch.setattr(base, "task_regs_missing", lambda _environ: why)
    return why


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """The JSON Lines schema, checked, with its formats checked too."""
    schema = jsonl.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
