"""The eBPF validation suite: verifier budgets, bytecode audit, privileges, limits.

Run it with ``nox -s ebpf-validate`` (as root); it writes ``reports/ebpf/`` and
fails when a budget, the helper allow list, the capability list or a
resource limit is exceeded. See docs/ebpf-validation.md.
"""
