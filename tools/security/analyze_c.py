"""The kernel programs through clang's static analyzer, findings as errors.

Each ``src/bee_trace/kernel/*.bpf.c`` is analysed with the flags setup.py
compiles it with (BPF target, ``-Wall -Werror``), plus the analyzer's own
``-analyzer-werror``: without it ``clang --analyze`` prints findings as
warnings and still exits 0.

One checker is off, with its reason:

- ``security.insecureAPI.DeprecatedOrUnsafeBufferHandling`` flags every
  ``__builtin_memcpy``/``__builtin_memset`` and asks for C11's ``memcpy_s``. BPF
  programs have no libc; these builtins take constant sizes and compile to
  plain loads and stores, whose bounds the verifier checks at load time.

    python -m tools.security.analyze_c
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL_SRC = ROOT / "src" / "bee_trace" / "kernel"

# uname -m -> __TARGET_ARCH_*, as in setup.py
TARGET_ARCH = {
    "x86_64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "s390x": "s390",
    "ppc64le": "powerpc",
    "riscv64": "riscv",
}
CHECKERS = "core,deadcode,security,unix,nullability"
DISABLED_CHECKERS = "security.insecureAPI.DeprecatedOrUnsafeBufferHandling"


def build_flags() -> list[str]:
    """setup.py's compile flags for the BPF objects (see compile_bpf there)."""
    arch = TARGET_ARCH.get(platform.machine(), platform.machine())
    triplet = sysconfig.get_config_var("MULTIARCH") or ""
    include = Path("/usr/include") / triplet
    multiarch = [f"-I{include}"] if triplet and include.is_dir() else []
    return [
        "-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}", "-Wall", "-Werror",
        f"-I{KERNEL_SRC}", *multiarch,
    ]  # fmt: skip


def analyze_command(clang: str, source: Path) -> list[str]:
    """The argv that analyses one program and fails on any finding."""
    return [
        clang, "--analyze",
        "-Xclang", "-analyzer-werror",
        "-Xanalyzer", f"-analyzer-checker={CHECKERS}",
        "-Xanalyzer", f"-analyzer-disable-checker={DISABLED_CHECKERS}",
        "-Xanalyzer", "-analyzer-output=text",
        *build_flags(), "-o", os.devnull, str(source),
    ]  # fmt: skip


def main() -> int:
    """Analyse every kernel program; 1 when any has a finding."""
    clang = os.environ.get("CLANG", "clang")
    if shutil.which(clang) is None:
        sys.stderr.write(f"error: {clang} not found (Debian/Ubuntu: apt-get install clang)\n")
        return 2
    sources = sorted(KERNEL_SRC.glob("*.bpf.c"))
    failed = [
        source.name
        for source in sources
        if subprocess.run(analyze_command(clang, source), check=False).returncode != 0  # noqa: S603 - our argv
    ]
    if failed:
        sys.stderr.write(f"error: clang --analyze found problems in {', '.join(failed)}\n")
        return 1
    sys.stdout.write(f"clang --analyze: {len(sources)} kernel programs, no findings\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
