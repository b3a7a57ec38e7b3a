"""The kernel compatibility matrix: every probe smoke-tested on real kernels in QEMU.

Run it with ``nox -s kernel-matrix`` (as root); it writes
``reports/ebpf/kernel-matrix.{json,md}`` and fails when a probe fails on a
listed kernel. The kernels are data, in ``kernels.toml``. See
docs/kernel-matrix.md.
"""
