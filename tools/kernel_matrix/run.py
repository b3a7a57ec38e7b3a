"""The kernel compatibility matrix: every probe, smoke-tested on real kernels.

For each kernel in ``kernels.toml`` this downloads Debian's linux-image
package, boots its ``vmlinuz`` in QEMU with a busybox initramfs, and runs
``bee-trace-smoke`` inside: it loads each kernel program, attaches its
tracepoints and checks that a watched read, a loopback connect and a
cross-process read reach the ring buffer as they should. The same loader also
runs on the host, so the running kernel is in the table too.

Writes ``reports/ebpf/kernel-matrix.json`` and ``.md``. Exit codes: 0 every
probe passed (or failed as listed in ``known_failures``), 1 a probe failed,
2 the set-up is wrong (a bad kernels file, a missing tool, no objects).

    python -m tools.kernel_matrix [--only 6.12] [--accel tcg] [--no-host]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger("kernel_matrix")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = ROOT / "build" / "kernel-matrix"
REPORTS = ROOT / "reports" / "ebpf"
KERNEL_SRC = ROOT / "src" / "bee_trace" / "kernel"

PROBES = ("file_monitor", "network_monitor", "memory_monitor")
LOADER = "bee-trace-smoke"  # also the comm the smoke test expects in each record
BUSYBOX = Path("/bin/busybox")
APT_LISTS_MAX_AGE_S = 24 * 3600
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
QEMU = "qemu-system-x86_64"
# Debian packages the run needs on the host, by a file each one provides
HOST_PACKAGES = {
    "qemu-system-x86": f"/usr/bin/{QEMU}",
    "busybox-static": str(BUSYBOX),
    "libbpf-dev": "/usr/include/bpf/libbpf.h",
    "libelf-dev": "/usr/include/libelf.h",
    "zlib1g-dev": "/usr/include/zlib.h",
    "libzstd-dev": "/usr/include/zstd.h",
    "gcc": "/usr/bin/gcc",
    "cpio": "/usr/bin/cpio",
}

# the loader's lines; the console may put escape sequences in front of one
LINE = re.compile(r"\b(BOOTED|PROBE|CHECK|RESULT|LOG|DONE) kernel=(\S+)(?: probe=(\S+))?[ ]?(.*)")
OOPS = r"(Oops|BUG|Kernel panic)[:\s-].*$"
RIP = r"RIP: 0010:\S+"
KVM_FAILURE = ("KVM internal error", "emulation failure", "kvm run failed")


KERNEL_KEYS = ("name", "package", "suite", "flavour", "apt_source")


class SetupError(Exception):
    """The run cannot start: a bad kernels file, a missing tool or package."""


@dataclass(frozen=True)
class Kernel:
    """One entry of kernels.toml."""

    name: str
    package: str
    suite: str
    flavour: str
    apt_source: str
    known_failures: dict[str, str] = field(default_factory=dict)


@dataclass
class Check:
    """One CHECK line: a single expectation of a probe."""

    name: str
    status: str
    detail: str


@dataclass
class ProbeResult:
    """What one probe did on one kernel."""

    status: str = "fail"
    load: str = ""
    checks: list[Check] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    known_failure: str | None = None


@dataclass
class KernelResult:
    """One row of the matrix."""

    name: str
    where: str
    package: str = ""
    version: str = ""
    release: str = ""
    accel: str = ""
    seconds: float = 0.0
    error: str | None = None
    retries: list[str] = field(default_factory=list)
    probes: dict[str, ProbeResult] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether anything here failed that is not a listed known failure."""
        return self.error is not None or any(
            p.status not in ("pass", "xfail") for p in self.probes.values()
        )


def _kernel_entry(where: str, entry: object, problems: list[str]) -> Kernel | None:
    """One [[kernel]] table, or None after adding what is wrong with it to problems."""
    table = entry if isinstance(entry, dict) else {}
    values: dict[str, str] = {}
    for key in KERNEL_KEYS:
        value = table.get(key)
        if isinstance(value, str) and value:
            values[key] = value
        else:
            problems.append(f"{where}: {key}: expected a non-empty string, got {value!r}")
    known = table.get("known_failures", {})
    if not isinstance(known, dict):
        problems.append(f"{where}: known_failures: expected a table of probe = reason")
        known = {}
    problems += [
        f"{where}: known_failures.{probe}: expected one of {', '.join(PROBES)} with a reason"
        for probe, reason in known.items()
        if probe not in PROBES or not isinstance(reason, str)
    ]
    if len(values) < len(KERNEL_KEYS):
        return None
    return Kernel(**values, known_failures=dict(known))


def load_kernels(path: Path) -> list[Kernel]:
    """Read kernels.toml, reporting every problem in it at once."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"{path}: {exc}"
        raise SetupError(msg) from exc
    entries = data.get("kernel")
    if not isinstance(entries, list) or not entries:
        msg = f"{path}: expected one or more [[kernel]] tables"
        raise SetupError(msg)
    problems: list[str] = []
    kernels = [_kernel_entry(f"{path}: kernel #{i}", e, problems) for i, e in enumerate(entries, 1)]
    names = [k.name for k in kernels if k]
    problems += [f"{path}: name {n!r} used twice" for n in sorted(set(names)) if names.count(n) > 1]
    if problems:
        raise SetupError("\n".join(problems))
    return [k for k in kernels if k]


def run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command, return its stdout; raise SetupError naming it on failure."""
    log.debug("run: %s", " ".join(cmd))
    try:
        done = subprocess.run(  # noqa: S603 - argv lists, no shell
            cmd, check=True, capture_output=True, text=True, cwd=cwd, env=env
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        msg = f"{cmd[0]} failed: {exc}\n{stderr.strip()}"
        raise SetupError(msg) from exc
    return done.stdout


def ensure_host_packages(*, install: bool) -> None:
    """Install (or name) the Debian packages the run needs."""
    missing = [pkg for pkg, probe in HOST_PACKAGES.items() if not Path(probe).exists()]
    if not missing:
        return
    if not install:
        msg = (
            f"missing packages: {' '.join(missing)}\n"
            f"hint: apt-get install {' '.join(missing)}, or pass --install"
        )
        raise SetupError(msg)
    log.info("installing %s", " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)


class Apt:
    """apt with a state of its own, so the host's sources are left as they are."""

    def __init__(self, base: Path, sources: list[str]) -> None:
        """Write the sources list under base; note whether the lists need fetching."""
        self.base = base
        lists = base / "lists"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        (base / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        sources_file = base / "sources.list"
        text = "".join(
            s.replace("deb ", f"deb [signed-by={KEYRING}] ", 1) + "\n" for s in sorted(sources)
        )
        changed = not sources_file.exists() or sources_file.read_text() != text
        sources_file.write_text(text)
        self.options = [
            "-o", f"Dir::Etc::SourceList={sources_file}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={lists}",
            "-o", f"Dir::Cache={base / 'cache'}",
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip
        stamp = lists / "lock"
        age = time.time() - stamp.stat().st_mtime if stamp.exists() else None
        self.stale = changed or age is None or age > APT_LISTS_MAX_AGE_S

    def update(self) -> None:
        """Fetch the package lists of the listed suites."""
        log.info("apt-get update (private state in %s)", self.base)
        run(["apt-get", *self.options, "update", "-q"])
        (self.base / "lists" / "lock").touch()

    def resolve(self, package: str, suite: str) -> tuple[str, str]:
        """The linux-image package and version a (meta)package names in a suite."""
        show = run(["apt-cache", *self.options, "show", f"{package}/{suite}"])
        stanza = show.split("\n\n", 1)[0]
        version = re.search(r"^Version: (\S+)", stanza, re.MULTILINE)
        image = re.search(
            r"^Depends: .*?(linux-image-[\w.+-]+) \(= ([^)]+)\)", stanza, re.MULTILINE
        )
        if image and not re.match(r"linux-image-\d", package):
            return image.group(1), image.group(2)
        if not version:
            msg = f"apt-cache show {package}/{suite}: no Version"
            raise SetupError(msg)
        return package, version.group(1)

    def vmlinuz(self, image: str, version: str) -> Path:
        """Download and unpack an image package once; return its vmlinuz."""
        target = self.base.parent / "kernels" / f"{image}_{version}"
        found = sorted(target.glob("boot/vmlinuz-*"))
        if found:
            return found[0]
        debs = self.base.parent / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s %s", image, version)
        run(["apt-get", *self.options, "download", "-q", f"{image}={version}"], cwd=debs)
        deb = next(p for p in debs.glob(f"{image}_*.deb") if version.replace(":", "%3a") in p.name)
        target.mkdir(parents=True, exist_ok=True)
        run(["dpkg-deb", "-x", str(deb), str(target)])
        found = sorted(target.glob("boot/vmlinuz-*"))
        if not found:
            msg = f"{deb.name} has no boot/vmlinuz-*"
            raise SetupError(msg)
        return found[0]


def build_loader(cache: Path) -> Path:
    """Compile bee-trace-smoke, statically, so it runs in a bare initramfs."""
    out = cache / LOADER
    run([
        "gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{KERNEL_SRC}",
        str(HERE / "smoke.c"), "-o", str(out), "-lbpf", "-lelf", "-lz", "-lzstd",
    ])  # fmt: skip
    return out


def build_initramfs(cache: Path, loader: Path, objects: Path) -> Path:
    """busybox, the loader, the objects and init.sh, as a gzipped newc cpio."""
    stage = cache / "initramfs"
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "objects"):
        (stage / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, stage / "bin" / "busybox")
    shutil.copy2(loader, stage / "bin" / LOADER)
    shutil.copy2(HERE / "init.sh", stage / "init")
    for probe in PROBES:
        shutil.copy2(objects / f"{probe}.bpf.o", stage / "objects")
    names = "".join(f"{p.relative_to(stage)}\n" for p in sorted(stage.rglob("*")))
    try:
        archive = subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet"],  # noqa: S607 - cpio from PATH
            input=names.encode(),
            cwd=stage,
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        msg = f"cpio failed: {exc}"
        raise SetupError(msg) from exc
    out = cache / "initramfs.cpio.gz"
    out.write_bytes(gzip.compress(archive, compresslevel=6))
    return out


def find_objects(given: Path | None) -> Path:
    """The directory of the built *.bpf.o: given, or the installed package's."""
    if given is None:
        import bee_trace.kernel  # noqa: PLC0415 - only when no directory is given

        given = Path(bee_trace.kernel.__file__).parent
    missing = [p for p in PROBES if not (given / f"{p}.bpf.o").is_file()]
    if missing:
        msg = (
            f"no {', '.join(missing)} object in {given}\n"
            "hint: install bee-trace first (pip install --no-build-isolation .)"
        )
        raise SetupError(msg)
    return given


def _apply_line(p: ProbeResult, kind: str, rest: str) -> None:
    """One loader line about one probe."""
    if kind == "PROBE":
        p.load = rest
    elif kind == "LOG":
        p.log.append(rest)
    elif kind == "CHECK":
        check, status, detail = [*rest.split(" ", 2), "", ""][:3]
        p.checks.append(Check(check.removeprefix("check="), status, detail))
    elif kind == "RESULT":
        p.status = rest.split(" ", 1)[0]


def parse(result: KernelResult, output: str, known: dict[str, str]) -> None:
    """Fill a row from the loader's lines; a probe without RESULT failed."""
    probes = {p: ProbeResult(known_failure=known.get(p)) for p in PROBES}
    done = False
    for raw in output.splitlines():
        m = LINE.search(raw.replace("\r", ""))
        if not m:
            continue
        kind, release, probe, rest = m.groups()
        result.release = release
        done = done or kind == "DONE"
        if probe in probes:
            _apply_line(probes[probe], kind, rest)
    for p in probes.values():
        if p.known_failure:
            p.status = {"fail": "xfail", "pass": "xpass"}.get(p.status, p.status)
    result.probes = probes
    if not done and result.error is None:
        result.error = "the loader did not finish"


def run_host(cache: Path, loader: Path, objects: Path) -> KernelResult:
    """The running kernel, without QEMU."""
    result = KernelResult(name="running", where="host", release=os.uname().release)
    log.info("running the loader on the host (%s)", result.release)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as cwd:
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv
                [str(loader), str(objects)],
                check=False,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=cwd,
            )
            output = done.stdout
            if done.returncode:
                result.error = f"exit status {done.returncode}: {done.stderr.strip()}"
        except subprocess.TimeoutExpired as exc:
            output = str(exc.stdout or "")
            result.error = "timed out after 120 s"
    result.seconds = time.monotonic() - start
    (cache / "logs").mkdir(parents=True, exist_ok=True)
    (cache / "logs" / "running.log").write_text(output)
    parse(result, output, {})
    return result


def boot(vmlinuz: Path, initrd: Path, accel: str, timeout_s: float) -> tuple[str, str | None]:
    """Boot once; return the console output and an error, or None."""
    cpu = "host" if accel == "kvm" else "max"
    cmd = [
        QEMU, "-accel", accel, "-cpu", cpu, "-m", "1024", "-smp", "1",
        "-nographic", "-no-reboot", "-nic", "none",
        "-kernel", str(vmlinuz), "-initrd", str(initrd),
        "-append", "console=ttyS0 panic=-1 quiet",
    ]  # fmt: skip
    log.debug("run: %s", " ".join(cmd))
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None  # noqa: S101 - stdout=PIPE above
    chunks: list[bytes] = []
    error = None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                error = f"timed out after {timeout_s:.0f} s"
                break
            if not sel.select(timeout=min(left, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            chunks.append(chunk)
            text = b"".join(chunks[-2:]).decode(errors="replace")
            if accel == "kvm" and any(s in text for s in KVM_FAILURE):
                error = "KVM cannot run this kernel"
                break
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return b"".join(chunks).decode(errors="replace"), error


def kvm_usable() -> bool:
    """/dev/kvm can be opened (whether it runs a given kernel is another matter)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


def crash_summary(output: str) -> str:
    """The first oops or panic line and the faulting RIP, if the guest kernel crashed."""
    found = [
        m.group(0).strip()
        for pattern in (OOPS, RIP)
        if (m := re.search(pattern, output, re.MULTILINE))
    ]
    return "; ".join(found)


def run_guest(
    kernel: Kernel, apt: Apt, initrd: Path, accel: list[str], args: argparse.Namespace
) -> KernelResult:
    """Boot one listed kernel and smoke-test the probes in it.

    A boot that does not reach the loader's DONE line is retried, up to
    --attempts boots: QEMU 7.2's emulation crashes 6.12 guests now and then,
    before bee-trace runs as often as while it runs. Each failed boot is
    named in the report with its crash, so a retry never hides one.
    """
    result = KernelResult(name=kernel.name, where="qemu")
    result.package, result.version = apt.resolve(kernel.package, kernel.suite)
    vmlinuz = apt.vmlinuz(result.package, result.version)
    logs = args.cache / "logs"
    attempt = 0
    while True:
        attempt += 1
        result.accel = accel[0]
        timeout_s = args.kvm_probe_timeout if accel[0] == "kvm" else args.timeout
        log.info("booting %s (%s) with %s", kernel.name, vmlinuz.name, accel[0])
        start = time.monotonic()
        output, error = boot(vmlinuz, initrd, accel[0], timeout_s)
        result.seconds = time.monotonic() - start
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{kernel.name}.{attempt}.{accel[0]}.log").write_text(output)
        if error is None and "DONE kernel=" in output:
            break
        why = "; ".join(filter(None, [error, crash_summary(output)])) or "no result"
        if accel[0] == "kvm" and args.accel == "auto":
            # the nested KVM of some hosts cannot run stock kernels: emulate from here on
            log.warning("KVM did not run %s (%s); using TCG", kernel.name, why)
            accel[0] = "tcg"
            attempt -= 1
            continue
        result.retries.append(f"boot {attempt} ({accel[0]}): {why}")
        if attempt >= args.attempts:
            break
        log.warning("boot %d of %s failed (%s); booting again", attempt, kernel.name, why)
    result.error = error
    parse(result, output, kernel.known_failures)
    return result


CELL = {"pass": "pass", "fail": "**FAIL**", "xfail": "xfail", "xpass": "**XPASS**"}


def _notes(results: list[KernelResult]) -> list[str]:
    """Everything below the table: errors, failed checks, known failures, load logs."""
    notes = []
    for r in results:
        if r.error:
            notes.append(f"- {r.name}: {r.error}")
        notes += [f"- {r.name}: failed boot: {why}" for why in r.retries]
        for probe, p in r.probes.items():
            if p.known_failure:
                notes.append(f"- {r.name} {probe}: known failure: {p.known_failure}")
            notes += [
                f"- {r.name} {probe} {c.name}: {c.status} {c.detail}"
                for c in p.checks
                if c.status != "pass"
            ]
            if p.load.startswith("load=fail"):
                notes.append(f"- {r.name} {probe}: {p.load}")
                notes += [f"  - `{line}`" for line in p.log[-8:]]
            if p.status == "xpass":
                notes.append(f"- {r.name} {probe}: passed; remove its known_failures entry")
    return notes


def _markdown(results: list[KernelResult], generated: str, qemu: str, total_s: float) -> str:
    """The matrix as a Markdown table, kernel by probe."""
    lines = [
        "# Kernel compatibility matrix",
        "",
        f"Generated {generated} by `tools/kernel_matrix/run.py` ({qemu}; {total_s:.0f} s in all).",
        "",
        "| kernel | release | where | accel | seconds | " + " | ".join(PROBES) + " |",
        "|---|---|---|---|---|" + "---|" * len(PROBES),
    ]
    for r in results:
        cells = []
        for probe in PROBES:
            p = r.probes.get(probe, ProbeResult())
            passed = sum(c.status == "pass" for c in p.checks)
            cells.append(f"{CELL.get(p.status, p.status)} ({passed}/{len(p.checks)})")
        lines.append(
            f"| {r.name} | {r.release} | {r.where} | {r.accel or '-'} | {r.seconds:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    notes = _notes(results)
    if notes:
        lines += ["", "## Failures and notes", "", *notes]
    return "\n".join(lines) + "\n"


def write_reports(results: list[KernelResult], objects: Path, total_s: float) -> None:
    """reports/ebpf/kernel-matrix.json and .md."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    qemu = run([QEMU, "--version"]).splitlines()[0]
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    doc = {
        "generated": generated,
        "objects": str(objects),
        "qemu": qemu,
        "seconds": round(total_s, 1),
        "failed": any(r.failed for r in results),
        "kernels": [asdict(r) for r in results],
    }
    (REPORTS / "kernel-matrix.json").write_text(json.dumps(doc, indent=2) + "\n")
    (REPORTS / "kernel-matrix.md").write_text(_markdown(results, generated, qemu, total_s))


def select(kernels: list[Kernel], only: list[str] | None) -> list[Kernel]:
    """The kernels --only names, all when it names none."""
    if not only:
        return kernels
    unknown = set(only) - {k.name for k in kernels}
    if unknown:
        msg = f"--only: no kernel named {', '.join(sorted(unknown))}"
        raise SetupError(msg)
    return [k for k in kernels if k.name in only]


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the matrix, write the reports; the exit code says how it went."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--kernels", type=Path, default=HERE / "kernels.toml")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these kernels")
    parser.add_argument("--objects", type=Path, help="directory of the *.bpf.o to test")
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    parser.add_argument("--timeout", type=float, default=120.0, help="per TCG boot, seconds")
    parser.add_argument("--attempts", type=int, default=3, help="boots per kernel at most")
    parser.add_argument("--cache", type=Path, default=CACHE, help="downloads, builds, logs")
    parser.add_argument("--kvm-probe-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--no-host", action="store_true", help="skip the running kernel")
    parser.add_argument("--refresh", action="store_true", help="apt-get update regardless")
    parser.add_argument("--install", action="store_true", help="apt-get install what is missing")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="kernel-matrix: %(message)s",
        stream=sys.stderr,
    )
    start = time.monotonic()
    try:
        listed = load_kernels(args.kernels)
        kernels = select(listed, args.only)
        ensure_host_packages(install=args.install)
        objects = find_objects(args.objects)
        args.cache.mkdir(parents=True, exist_ok=True)
        loader = build_loader(args.cache)
        initrd = build_initramfs(args.cache, loader, objects)
        apt = Apt(args.cache / "apt", [k.apt_source for k in listed])
        if apt.stale or args.refresh:
            apt.update()
        accel = ["tcg" if args.accel == "tcg" or not kvm_usable() else "kvm"]
        if args.accel == "kvm":
            args.kvm_probe_timeout = args.timeout
        results = [] if args.no_host else [run_host(args.cache, loader, objects)]
        results += [run_guest(k, apt, initrd, accel, args) for k in kernels]
    except SetupError as exc:
        log.error("error: %s", exc)  # noqa: TRY400 - the message is the report
        return 2
    total_s = time.monotonic() - start
    write_reports(results, objects, total_s)
    for r in results:
        states = ", ".join(f"{n} {p.status}" for n, p in r.probes.items())
        log.info("%s (%s, %.1f s): %s%s", r.name, r.release, r.seconds, states,
                 f"; {r.error}" if r.error else "")  # fmt: skip
    log.info("report: %s", REPORTS / "kernel-matrix.md")
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
