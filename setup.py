"""Build step: compile the kernel programs and embed the default policy.

The BPF objects are CO-RE: built once here, against no particular kernel,
and relocated by libbpf on the host at load time. Nothing is compiled on the
monitored host. Built objects are package data of the wheel, never committed.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sysconfig
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
KERNEL_SRC = ROOT / "src" / "bee_trace" / "kernel"
POLICY = ROOT / ".github" / "security.yml"

# uname -m -> the __TARGET_ARCH_* that bpf_tracing.h expects
TARGET_ARCH = {
    "x86_64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "s390x": "s390",
    "ppc64le": "powerpc",
    "riscv64": "riscv",
}


def _multiarch_include() -> list[str]:
    triplet = sysconfig.get_config_var("MULTIARCH") or ""
    include = Path("/usr/include") / triplet
    return [f"-I{include}"] if triplet and include.is_dir() else []


def compile_bpf(source: Path, output: Path, defines: tuple[str, ...] = ()) -> None:
    """Compile one ``*.bpf.c`` into a CO-RE object with BTF, debug info stripped."""
    clang = os.environ.get("CLANG", "clang")
    strip = os.environ.get("LLVM_STRIP", "llvm-strip")
    for tool in (clang, strip):
        if shutil.which(tool) is None:
            msg = f"building bee-trace needs {tool} (Debian/Ubuntu: apt-get install clang llvm)"
            raise SystemExit(msg)
    arch = TARGET_ARCH.get(platform.machine(), platform.machine())
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        clang,
        "-g",
        "-O2",
        "-target",
        "bpf",
        f"-D__TARGET_ARCH_{arch}",
        "-Wall",
        "-Werror",
        *(f"-D{name}" for name in defines),
        f"-I{KERNEL_SRC}",
        *_multiarch_include(),
        "-c",
        str(source),
        "-o",
        str(output),
    ]
    subprocess.run(cmd, check=True)  # noqa: S603 - fixed argv, no shell
    # keep .BTF and .BTF.ext (CO-RE needs them), drop DWARF
    subprocess.run([strip, "-g", str(output)], check=True)  # noqa: S603


class BuildWithKernel(build_py):
    """build_py, plus the BPF objects and the embedded default policy."""

    def run(self) -> None:
        """Build the Python package, then add the generated files to it."""
        super().run()
        package = Path(self.build_lib) / "bee_trace"
        for source in sorted(KERNEL_SRC.glob("*.bpf.c")):
            stem = source.name.removesuffix(".bpf.c")
            compile_bpf(source, package / "kernel" / f"{stem}.bpf.o")
            # the fallback for kernels without a BPF ring buffer (before 5.8)
            compile_bpf(source, package / "kernel" / f"{stem}.perfbuf.bpf.o", ("BT_PERFBUF",))
        shutil.copyfile(POLICY, package / "security.yml")


class BinaryDistribution(Distribution):
    """The wheel carries BPF objects built for one architecture: not pure."""

    def has_ext_modules(self) -> bool:
        """Tag the wheel with the platform it was built on."""
        return True


setup(cmdclass={"build_py": BuildWithKernel}, distclass=BinaryDistribution)
