"""bee-trace: a Linux host security monitor built on eBPF."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bee-trace")
except PackageNotFoundError:  # pragma: no cover - only when run from a bare tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
