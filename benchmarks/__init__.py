"""The performance suite: workloads, figures, history and regression gates.

Run it with ``nox -s bench`` (``-- --short`` for CI, ``-- --update-baseline``
to accept the figures). See ``docs/benchmarks.md``.
"""
