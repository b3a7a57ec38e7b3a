"""Microbenchmarks of the user-space hot paths (pytest-benchmark)."""
