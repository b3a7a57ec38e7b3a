"""Shared test set-up: the kernel marker and what it requires.

Tests marked ``kernel`` load real BPF programs. Outside CI they are skipped
when the machine cannot run them; with ``CI=true`` a missing capability is a
failure, so CI can never turn red into green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def kernel_unavailable() -> str | None:
    """Why kernel tests cannot run here, or None."""
    from bee_trace.probes.base import object_path  # noqa: PLC0415

    if os.geteuid() != 0:
        return "kernel tests need root"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "kernel tests need BTF at /sys/kernel/btf/vmlinux"
    obj = object_path("file_monitor.bpf.o")
    if not obj.exists():
        return f"kernel tests need the built BPF objects ({obj} is missing: install the package)"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip, or in CI fail, kernel tests on a machine that cannot run them."""
    reason = kernel_unavailable()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("kernel") is None:
            continue
        if IN_CI:
            item.add_marker(pytest.mark.usefixtures("_fail_kernel_unavailable"))
        else:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def _fail_kernel_unavailable() -> None:
    pytest.fail(f"CI=true and {kernel_unavailable()}")
