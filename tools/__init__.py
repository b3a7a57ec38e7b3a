"""Developer tooling run by the task runner (noxfile.py); not shipped in the package."""
