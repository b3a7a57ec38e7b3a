#!/bin/sh
# Install the system packages bee-trace needs, with the distribution's own
# package manager (apt, dnf or apk). Installs only what is missing, so it is
# safe to run again. POSIX sh: it runs before bash exists (Alpine).
#
#   scripts/install-deps.sh [--deadsnakes] GROUP...   install what GROUP needs
#   scripts/install-deps.sh --print-python            the Python 3.11+ to use
#
# Groups: build (compile the kernel programs), run (load them), test (every
# gate: format, lint, tests). What each distribution gets is in
# docs/deployment.md ("Supported distributions").
#
# --deadsnakes: on Ubuntu 20.04 only, add the deadsnakes PPA for Python 3.11
# (Ubuntu 20.04 ships 3.8). Other distributions ignore it.
set -eu

die() {
	echo "install-deps: error: $*" >&2
	exit 1
}

# the first python3.x on PATH that is 3.11 or newer
print_python() {
	for candidate in python3.13 python3.12 python3.11 python3; do
		if command -v "$candidate" >/dev/null 2>&1 &&
			"$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
			echo "$candidate"
			return 0
		fi
	done
	die "no Python 3.11 or newer on PATH"
}

deadsnakes=no
groups=""
for arg in "$@"; do
	case "$arg" in
	--print-python)
		print_python
		exit 0
		;;
	--deadsnakes) deadsnakes=yes ;;
	build | run | test) groups="$groups $arg" ;;
	*) die "usage: $0 [--deadsnakes] build|run|test... | --print-python" ;;
	esac
done
[ -n "$groups" ] || die "usage: $0 [--deadsnakes] build|run|test... | --print-python"
[ "$(id -u)" -eq 0 ] || die "run as root: it installs system packages"

ID=unknown
VERSION_ID=0
if [ -r /etc/os-release ]; then
	# shellcheck disable=SC1091 # the running system's own file
	. /etc/os-release
fi

# --- package names: one function per package manager, one line per group ---

apt_packages() {
	libbpf=libbpf1
	python="python3 python3-venv"
	case "$ID:$VERSION_ID" in
	# no libbpf 1.x in these releases: bee-trace builds and its unit tests
	# run, but loading the programs needs libbpf.so.1 from elsewhere
	ubuntu:20.04)
		libbpf=libbpf0
		python="python3.11 python3.11-venv"
		;;
	ubuntu:22.04)
		libbpf=libbpf0
		python="python3.11 python3.11-venv"
		;;
	esac
	case "$1" in
	build) echo "clang llvm libbpf-dev" ;;
	run) echo "$libbpf libelf1 $python" ;;
	# setpriv and unshare (util-linux), clang-format, shellcheck, git
	test) echo "util-linux procps clang-format shellcheck git" ;;
	esac
}

dnf_packages() {
	case "$1" in
	build) echo "clang llvm libbpf-devel" ;;
	run) echo "libbpf elfutils-libelf python3.11 python3.11-pip" ;;
	# clang-format is in clang-tools-extra; shellcheck is not in these
	# repositories (EPEL has it), so the lint gate cannot run here
	test) echo "util-linux procps-ng clang-tools-extra git-core" ;;
	esac
}

apk_packages() {
	case "$1" in
	build) echo "clang llvm libbpf-dev linux-headers" ;;
	run) echo "libbpf libelf python3" ;;
	test) echo "util-linux procps-ng clang-extra-tools shellcheck git bash" ;;
	esac
}

# --- which are missing, then install them ---

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	manager=apt
	installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
elif command -v dnf >/dev/null 2>&1; then
	manager=dnf
	installed() { rpm -q "$1" >/dev/null 2>&1; }
elif command -v apk >/dev/null 2>&1; then
	manager=apk
	installed() { apk info -e "$1" >/dev/null 2>&1; }
else
	die "no supported package manager (apt, dnf or apk) found"
fi

missing=""
for group in $groups; do
	for pkg in $("${manager}_packages" "$group"); do
		case " $missing " in *" $pkg "*) continue ;; esac
		installed "$pkg" || missing="$missing $pkg"
	done
done
missing="${missing# }"
if [ -z "$missing" ]; then
	exit 0
fi
echo "install-deps: installing $missing" >&2

# word splitting of $missing is wanted: one argument per package
# shellcheck disable=SC2086
case "$manager" in
apt)
	export DEBIAN_FRONTEND=noninteractive
	if [ "$deadsnakes" = yes ] && [ "$ID:$VERSION_ID" = ubuntu:20.04 ]; then
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends software-properties-common gpg-agent
		add-apt-repository -y ppa:deadsnakes/ppa
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing
	;;
dnf)
	dnf install -y -q --setopt=install_weak_deps=False $missing
	dnf clean all
	;;
apk) apk add --no-cache $missing ;;
esac
