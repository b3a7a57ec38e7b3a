#!/usr/bin/env bash
# CI set-up on a hosted runner (not root): the system packages of the given
# groups through install-deps.sh, then .venv with the pinned tools of
# requirements/dev.lock. Every later step runs .venv/bin/nox.
#
#   scripts/ci-setup.sh build run test
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$#" -gt 0 ] || {
	echo "ci-setup: error: usage: $0 build|run|test..." >&2
	exit 1
}

if [ "$(id -u)" -eq 0 ]; then
	sh scripts/install-deps.sh "$@"
else
	sudo sh scripts/install-deps.sh "$@"
fi

# the interpreter actions/setup-python put first on PATH, else the system's
PYTHON="${PYTHON:-$(sh scripts/install-deps.sh --print-python)}"
if [ ! -x .venv/bin/python ]; then
	"$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --disable-pip-version-check --quiet \
	--no-deps --require-hashes -r requirements/dev.lock
