#!/usr/bin/env bash
# Set up whatever is missing on a Debian or Ubuntu host, then run bee-trace
# or its test suite. Safe to run again: it installs only what is absent.
#
#   scripts/bootstrap.sh run    set up, then: bee-trace --probe-type all --duration 30
#   scripts/bootstrap.sh test   set up, then run every gate: format, lint, types,
#                               docs, and the whole test suite under coverage
#                               (further arguments go to pytest)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
VENV="${BEE_TRACE_VENV:-$ROOT/.venv}"
MODE="${1:-}"

die() {
	echo "bootstrap: error: $*" >&2
	exit 1
}

case "$MODE" in
run | test) ;;
*) die "usage: $0 run|test" ;;
esac

[ "$(id -u)" -eq 0 ] || die "run as root: bee-trace loads kernel programs (try: sudo $0 $MODE)"
command -v dpkg-query >/dev/null || die "this script supports Debian and Ubuntu (no dpkg-query found)"

# the system packages, by the one script that knows each distribution's names
# (on Debian and Ubuntu: clang llvm libbpf-dev libbpf1 libelf1 python3
# python3-venv, and for the tests util-linux procps clang-format shellcheck git)
if [ "$MODE" = test ]; then
	sh scripts/install-deps.sh build run test
else
	sh scripts/install-deps.sh build run
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
	die "bee-trace needs Python 3.11 or newer; $("$PYTHON" --version 2>&1) found (set PYTHON=...)"

if [ ! -x "$VENV/bin/python" ]; then
	"$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
if [ "$MODE" = test ]; then
	"${PIP[@]}" install --no-deps --require-hashes -r requirements/dev.lock
else
	"${PIP[@]}" install --no-deps --require-hashes -r requirements/runtime.lock -r requirements/build.lock
fi
# the locks are complete closures (installed with --no-deps): prove it
"${PIP[@]}" check
# a fresh build every time: the BPF objects come from the sources in this tree
rm -rf build
"${PIP[@]}" install --no-build-isolation --no-deps --force-reinstall .

if [ "$MODE" = run ]; then
	exec "$VENV/bin/bee-trace" --probe-type all --duration 30
fi

# the git hooks (lefthook.yml), in a clone that has a .git of its own
if [ -d .git ]; then
	"$VENV/bin/lefthook" install >/dev/null
fi
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/nox" -s all -- "${@:2}"
