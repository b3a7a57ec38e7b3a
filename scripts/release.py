"""Release artifacts besides the wheel and sdist: the tarball and the checksums.

    python scripts/release.py bundle dist       bee-trace-VERSION.tar.gz: README, docs,
                                                default policy, deployment files;
                                                checks every wheel carries the BPF objects
    python scripts/release.py checksums dist    dist/SHA256SUMS over every file there

Standard library only: the release job runs it without a virtual environment.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
CHECKSUMS: Final = "SHA256SUMS"
# what the tarball holds, beside the wheel: paths relative to the repository
BUNDLE: Final = (
    "README.md",
    "docs",
    "deploy",
    "requirements/runtime.lock",
)
POLICY: Final = ".github/security.yml"
KERNEL_OBJECTS: Final = ("file_monitor", "network_monitor", "memory_monitor")


class ReleaseError(Exception):
    """A release artifact is missing or incomplete."""


def version() -> str:
    """The version in pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def check_wheel(wheel: Path) -> None:
    """Raise ReleaseError unless the wheel holds every kernel object and the policy."""
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [f"bee_trace/kernel/{name}.bpf.o" for name in KERNEL_OBJECTS]
    wanted.append("bee_trace/security.yml")
    missing = [name for name in wanted if name not in names]
    if missing:
        msg = f"{wheel.name} lacks {', '.join(missing)}"
        raise ReleaseError(msg)


def bundle(dist: Path) -> Path:
    """Write dist/bee-trace-VERSION.tar.gz after checking the wheels in dist."""
    wheels = sorted(dist.glob("*.whl"))
    if not wheels:
        msg = f"no wheel in {dist}: build it first (nox -s build)"
        raise ReleaseError(msg)
    for wheel in wheels:
        check_wheel(wheel)
    top = f"bee-trace-{version()}"
    out = dist / f"{top}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for rel in BUNDLE:
            tar.add(ROOT / rel, arcname=f"{top}/{rel}")
        tar.add(ROOT / POLICY, arcname=f"{top}/security.yml")
    return out


def checksums(dist: Path) -> Path:
    """Write dist/SHA256SUMS (``sha256sum -c`` format) over every file in dist."""
    lines = []
    for path in sorted(p for p in dist.iterdir() if p.is_file()):
        if path.name == CHECKSUMS or path.name.endswith(".sigstore.json"):
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.name}\n")
    out = dist / CHECKSUMS
    out.write_text("".join(lines))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; exit 1 with one line on a missing artifact."""
    parser = argparse.ArgumentParser(prog="release.py", description=__doc__)
    parser.add_argument("command", choices=["bundle", "checksums"])
    parser.add_argument("dist", type=Path, help="the directory of release artifacts")
    args = parser.parse_args(argv)
    try:
        out = bundle(args.dist) if args.command == "bundle" else checksums(args.dist)
    except (ReleaseError, OSError) as exc:
        sys.stderr.write(f"release: error: {exc}\n")
        return 1
    sys.stderr.write(f"release: wrote {out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
