"""The README's two commands on a machine that has only Debian 12's own packages.

A Debian 12 (bookworm) root is built with Debian's ``debootstrap`` (the minimal variant, plus
``python3`` and ``make``, which the README assumes), the project's committed tree (``git
archive HEAD``) is copied into it, and inside it, as root in a chroot with ``/proc``, ``/sys``
and ``/dev`` mounted:

1. ``make demo PORT=…``: it installs what it needs (python3-venv with apt, uv in a virtual
   environment of its own, the locked environment), prints its banner, serves the status page
   (fetched over HTTP from outside the chroot, which shares the network), and stops cleanly on
   SIGINT to its process group (as Ctrl-C sends it): no traceback, no error from make. Then
   ``scripts/bootstrap`` again only checks (it prints nothing and installs nothing).
2. ``make test``: the whole gate as the README runs it (the browser's packages from apt,
   axe-core from npm, ruff, mypy, pytest on SQLite and on PostgreSQL, the host's PostgreSQL on
   127.0.0.1:5432), with pytest restricted through its own ``PYTEST_ADDOPTS`` to a small but
   real subset (``SUBSET``): the whole suite runs outside the chroot in the same gate, and
   running it twice would double the gate's time. The subset reaches every kind of part the
   suite uses: both databases, incident.io's SDK, the CLI and Chromium with axe-core.

The chroot shares this machine's network: its DNS resolver and its trust store (see
``TRUST_STORE``) are copied in. Downloads are cached between runs (the Debian packages, pip's
and npm's caches, uv's cache, which is this machine's own when it has one, and the
debootstrapped root itself, as a tarball of exactly what debootstrap made), so a run spends
its time installing, not downloading. Everything mounted is unmounted and every process left
in the chroot is killed, whatever happens.

It runs as root only, once per gate (in the PostgreSQL pass). Without root it is skipped, except
in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import backend, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

PROJECT = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
#: Beside debootstrap's minimal base: what the README expects a machine to have.
INCLUDE = ("python3", "make")
#: Where the project sits in the chroot.
CHECKOUT = "/root/clarion"
#: The tests ``make test`` runs in the chroot (see the module's docstring).
SUBSET = (
    "tests/test_healthz.py",
    "tests/cli/test_help.py",
    "tests/incidents/test_create_incident.py::"
    "test_an_incident_created_through_the_sdk_comes_back_with_its_first_update_and_impacts",
    "tests/public/test_accessibility.py::test_axe_finds_nothing_on_any_public_page[desktop-dark]",
)
#: The chroot's size (it is a tmpfs): Debian's base, the environment, Chromium, Node.js.
ROOT_SIZE = "6G"
#: Where downloads are kept between runs.
CACHE = Path(os.environ.get("CLARION_TEST_CACHE", Path.home() / ".cache" / "clarion-tests"))
UV_CACHE = Path(os.environ.get("UV_CACHE_DIR", Path.home() / ".cache" / "uv"))
#: This machine's trust store, and where it goes in the chroot (where Debian's ca-certificates,
#: once installed, adds it to the system's store too), pip, uv and npm pointed at it: their own
#: bundles do not know the authority of a network that intercepts TLS, as this one's may (an
#: administrator does the same on such a network).
TRUST_STORE = "/etc/ssl/certs/ca-certificates.crt"
TRUST_STORE_INSIDE = "/usr/local/share/ca-certificates/this-machine.crt"
CHROOT_ENV = {
    "HOME": "/root",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "SSL_CERT_FILE": TRUST_STORE_INSIDE,
    "PIP_CERT": TRUST_STORE_INSIDE,
    "NODE_EXTRA_CA_CERTS": TRUST_STORE_INSIDE,
}


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb.debian.org when none is found)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    text = sources.read_text() if sources.exists() else ""
    found = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M)
    return found.group(1) if found else "http://deb.debian.org/debian"


def ensure_debootstrap() -> str:
    """Debian's debootstrap, installed with apt when it is missing."""
    if not shutil.which("debootstrap"):
        run(["apt-get", "update", "-qq"], timeout=300)
        run(["apt-get", "install", "-y", "-qq", "debootstrap"], timeout=600)
    found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    assert Path(found).exists(), "debootstrap did not install"
    return found


def run(args: list[str], timeout: float, **kwargs: object) -> str:
    """``args``, which must succeed; returns its output (stdout and stderr)."""
    done = subprocess.run(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        **kwargs,  # type: ignore[arg-type]
    )
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}"
    return done.stdout


def base_tarball() -> Path:
    """A tarball of a freshly debootstrapped Debian 12 root with ``INCLUDE``, made once per
    mirror (and kept in ``CACHE``)."""
    mirror = debian_mirror()
    key = hashlib.sha256(f"{SUITE} minbase {','.join(INCLUDE)} {mirror}".encode()).hexdigest()
    tarball = CACHE / f"debian-{SUITE}-{key[:12]}.tar"
    if tarball.exists():
        return tarball
    debootstrap = ensure_debootstrap()
    (CACHE / "debs").mkdir(parents=True, exist_ok=True)
    building = CACHE / f"building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(INCLUDE)}",
                f"--cache-dir={CACHE / 'debs'}",
                SUITE,
                str(building),
                mirror,
            ],
            timeout=1200,
        )
        partial = tarball.with_suffix(".partial")
        run(["tar", "-C", str(building), "--numeric-owner", "-cf", str(partial), "."], 600)
        partial.rename(tarball)
    finally:
        unmount_below(building)
        if not mounts_below(building):
            shutil.rmtree(building, ignore_errors=True)
    return tarball


def mounts_below(root: Path) -> list[str]:
    """The mount points at or below ``root``, deepest last."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def unmount_below(root: Path) -> None:
    """Unmount everything mounted at or below ``root``, deepest first (lazily when busy)."""
    for point in reversed(mounts_below(root)):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def kill_processes_in(root: Path) -> None:
    """SIGKILL every process whose root directory is ``root`` (left over in the chroot)."""
    resolved = str(root.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == resolved:
                os.kill(int(entry.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


@contextlib.contextmanager
def fresh_root(tmp: Path) -> Iterator[Path]:
    """A Debian 12 root with the project's committed tree at ``CHECKOUT``, its pseudo file
    systems and download caches mounted; torn down (processes killed, everything unmounted,
    the files removed) on the way out."""
    tarball = base_tarball()
    root = tmp / "root"
    root.mkdir()
    try:
        # In memory: unpacking is quick, and removing it is one unmount.
        run(["mount", "-t", "tmpfs", "-o", f"size={ROOT_SIZE}", "tmpfs", str(root)], 60)
        run(["tar", "-C", str(root), "--numeric-owner", "-xf", str(tarball)], 600)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        trust = root / TRUST_STORE_INSIDE.lstrip("/")
        trust.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TRUST_STORE, trust)
        checkout = root / CHECKOUT.lstrip("/")
        checkout.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(PROJECT), "archive", "--format=tar", "HEAD"],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
        subprocess.run(["tar", "-C", str(checkout), "-xf", "-"], input=archive, check=True)
        mounts = [
            (["-t", "proc", "proc"], "proc"),
            (["-t", "sysfs", "sys"], "sys"),
            (["--rbind", "/dev"], "dev"),
            (["-t", "tmpfs", "tmpfs"], "dev/shm"),
        ]
        # Caches of downloads only: what is installed is installed in the root, every run.
        # uv's is this machine's own when it has one (uv.lock's wheels are in it already).
        caches = [
            (CACHE / "apt-archives", "var/cache/apt/archives"),
            (CACHE / "home-cache", "root/.cache"),
            (CACHE / "npm", "root/.npm"),
            (UV_CACHE if UV_CACHE.is_dir() else CACHE / "uv", "root/.cache/uv"),
        ]
        for outside, inside in caches:
            outside.mkdir(parents=True, exist_ok=True)
            mounts.append((["--bind", str(outside)], inside))
        for options, inside in mounts:
            target = root / inside
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", *options, str(target)], 60)
            if "--rbind" in options:
                run(["mount", "--make-rslave", str(target)], 60)
        yield root
    finally:
        kill_processes_in(root)
        unmount_below(root)
        left = mounts_below(root)
        assert not left, f"still mounted, not removed: {left}"
        shutil.rmtree(root, ignore_errors=True)


def in_chroot(root: Path, command: str) -> list[str]:
    """``bash -c command`` in ``CHECKOUT`` of the chroot, with a clean environment."""
    environment = [f"{name}={value}" for name, value in CHROOT_ENV.items()]
    return [
        "chroot",
        str(root),
        "/usr/bin/env",
        "-i",
        *environment,
        "bash",
        "-c",
        f"cd {CHECKOUT} && {command}",
    ]


def wait_for(log: Path, text: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, f"exited ({process.returncode}):\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} after {seconds} s:\n{log.read_text()}"
        time.sleep(0.5)


@contextlib.contextmanager
def started_in_chroot(root: Path, command: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running in the chroot in a process group of its own (as a shell runs a job),
    its output in ``log``; the group is killed if it still runs when the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            in_chroot(root, command),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def check_make_demo(root: Path, log: Path) -> None:
    port = free_port()
    with started_in_chroot(root, f"exec make demo PORT={port}", log) as process:
        wait_for(log, "Stop it with Ctrl-C", process, 900)
        output = log.read_text()
        banner = output.index("Clarion demo is ready.")
        base = f"http://127.0.0.1:{port}"
        assert f"Status page:  {base}/acme" in output, output
        page = httpx.get(f"{base}/acme", timeout=30)
        assert page.status_code == 200 and "Acme Cloud" in page.text
        os.killpg(process.pid, signal.SIGINT)
        process.wait(60)
    output = log.read_text()
    # make dies of the SIGINT it was sent, after its command exited 0 (make prints
    # "*** [Makefile:…: demo] Interrupt" when the command did not).
    assert process.returncode in (0, -signal.SIGINT), output
    assert "Traceback" not in output and "***" not in output, output
    # What the bootstrap printed on its way is before the banner; nothing of Clarion's is.
    assert "alembic" not in output[:banner], output
    # A second bootstrap only checks: silent, and uv is the one the first installed.
    uv = root / CHECKOUT.lstrip("/") / ".tools" / "uv" / "bin" / "uv"
    installed = uv.stat()
    again = subprocess.run(
        in_chroot(root, "scripts/bootstrap"), capture_output=True, text=True, timeout=300
    )
    assert (again.returncode, again.stdout, again.stderr) == (0, "", ""), again
    assert (uv.stat().st_ino, uv.stat().st_mtime) == (installed.st_ino, installed.st_mtime)


def check_make_test(root: Path, log: Path) -> None:
    command = f"PYTEST_ADDOPTS='{' '.join(SUBSET)}' exec make test"
    with started_in_chroot(root, command, log) as process:
        process.wait(1800)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "gate: passed" in output, output
    for name in ("sqlite", "postgresql"):
        assert f"==> pytest on {name}" in output, output
    # Every test of the subset ran on both backends (none skipped, e.g. for lack of Chromium).
    summaries = re.findall(r"^=+ (\d+) passed(.*) in [\d.]+s", output, re.M)
    assert len(summaries) == 2 and all("skipped" not in rest for _, rest in summaries), output
    assert all(int(count) >= len(SUBSET) for count, _ in summaries), output


def test_the_readme_commands_work_on_a_fresh_debian_12(tmp_path: Path) -> None:
    if backend() != "postgresql":
        pytest.skip("runs once per gate, in the PostgreSQL pass (both backends run inside it)")
    if os.geteuid() != 0:
        message = "builds a Debian root with debootstrap and chroots into it: needs root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with fresh_root(tmp_path) as root:
        check_make_demo(root, tmp_path / "make-demo.log")
        check_make_test(root, tmp_path / "make-test.log")
