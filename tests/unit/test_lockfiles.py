"""pyproject.toml, requirements/*.in and requirements/*.lock agree (tools/security/lockfiles.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tools.security.lockfiles import problems

ROOT = Path(__file__).parents[2]

HASH = "    --hash=sha256:" + "0" * 64


def test_the_repository_agrees() -> None:
    assert problems(ROOT) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small copy: pyproject.toml and requirements/ that agree."""
    (tmp_path / "requirements").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\n'
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["PyYAML>=6.0"]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8"]\n',
        encoding="utf-8",
    )
    files = {
        "runtime.in": "# run time\nPyYAML>=6.0\n",
        "runtime.lock": f"pyyaml==6.0.2 \\\n{HASH}\n",
        "build.in": "setuptools>=68\n",
        "build.lock": f"setuptools==80.0 \\\n{HASH}\n",
        "test.in": "-r runtime.in\nsetuptools>=68\npytest>=8\n",
        "test.lock": f"pytest==8.3.0 \\\n{HASH}\npyyaml==6.0.2 \\\n{HASH}\n"
        f"setuptools==80.0 \\\n{HASH}\n",
    }
    for name, text in files.items():
        (tmp_path / "requirements" / name).write_text(text, encoding="utf-8")
    return tmp_path


def _edit(tree: Path, name: str, old: str, new: str) -> None:
    path = tree / name
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_fixture_agrees(tree: Path) -> None:
    assert problems(tree) == []


def test_dependency_missing_from_in_file(tree: Path) -> None:
    _edit(tree, "pyproject.toml", '["PyYAML>=6.0"]', '["PyYAML>=6.0", "jsonschema>=4"]')
    declared = "declared in pyproject.toml project.dependencies"
    assert problems(tree) == [f"runtime.in: missing jsonschema>=4 ({declared})"]


def test_in_file_lists_an_undeclared_dependency(tree: Path) -> None:
    _edit(tree, "requirements/runtime.in", "PyYAML>=6.0\n", "PyYAML>=6.0\nrequests\n")
    found = problems(tree)
    assert any(p.startswith("runtime.in:3: requests is not declared") for p in found), found


def test_specifier_differs(tree: Path) -> None:
    _edit(tree, "pyproject.toml", "PyYAML>=6.0", "PyYAML>=6.1")
    found = problems(tree)
    assert any("missing PyYAML>=6.1" in p for p in found), found


def test_lock_version_outside_specifier(tree: Path) -> None:
    _edit(tree, "requirements/runtime.lock", "pyyaml==6.0.2", "pyyaml==5.4")
    assert problems(tree) == [
        "runtime.lock: pyyaml==5.4 does not satisfy PyYAML>=6.0 (runtime.in:2)"
    ]


def test_dependency_not_pinned(tree: Path) -> None:
    _edit(tree, "requirements/test.lock", "pytest==8.3.0", "pluggy==1.5")
    found = problems(tree)
    assert "test.lock: pytest>=8 (test.in:3) is not pinned" in found, found


def test_pin_without_hash(tree: Path) -> None:
    (tree / "requirements/build.lock").write_text("setuptools==80.0\n", encoding="utf-8")
    assert problems(tree) == ["build.lock:1: setuptools has no --hash"]


def test_in_file_without_lock(tree: Path) -> None:
    shutil.copy(tree / "requirements/build.in", tree / "requirements/extra.in")
    assert problems(tree) == ["extra.in: no extra.lock beside it"]
