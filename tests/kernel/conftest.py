"""Kernel-test set-up shared by the probe modules."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from bee_trace.host.features import FORCE_NO_TASK_BTF_ENV

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module", params=["regs", "entry"])
def arg_source(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each probe test runs both ways its exit programs can get a call's arguments.

    ``regs``: from the task's registers, as on this kernel (5.15 and later).
    ``entry``: kept by entry programs, as on older kernels; forced here by the
    switch that makes the feature probe answer "unsupported".
    """
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "entry":
            mp.setenv(FORCE_NO_TASK_BTF_ENV, "1")
        else:
            mp.delenv(FORCE_NO_TASK_BTF_ENV, raising=False)
        yield str(request.param)


@pytest.fixture
def sibling() -> Iterator[int]:
    """The pid of a sleeping process, for a test to read the memory of."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()
