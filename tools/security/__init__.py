"""Security scanning and supply chain: the helpers behind ``nox -s security``.

Each module is one check with a small ``main`` that returns an exit code; the
noxfile runs them as ``python -m tools.security.NAME``. docs/security.md
describes the whole target.
"""
