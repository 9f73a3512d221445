"""Clarion as users run it: ``clarion serve`` in a subprocess, on a loopback port, with its own
temporary database (a SQLite file in a temporary directory, or a fresh PostgreSQL database on
the local server that is dropped afterwards)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_ADMIN_URL = os.environ.get(
    "CLARION_BENCH_PG_ADMIN_URL",
    os.environ.get("CLARION_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clarion_executable() -> str:
    """The ``clarion`` entry point of this environment (so its pid is the server's pid)."""
    candidate = Path(sys.executable).parent / "clarion"
    return str(candidate) if candidate.exists() else "clarion"


@contextlib.contextmanager
def temporary_database(backend: str) -> Iterator[str]:
    """A fresh, empty database URL; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    import psycopg

    name = f"clarion_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    env.update(
        CLARION_DATABASE_URL=database_url,
        CLARION_LOG_LEVEL="warning",
        # One bucket per client key already keeps clients apart; the capacity is raised as well
        # so that a long run never measures 429s instead of the endpoint.
        CLARION_RATE_LIMIT_CAPACITY="100000000",
        **extra,
    )
    return env


def run_cli(database_url: str, *args: str, stdin: str | None = None, **extra: str) -> str:
    """``clarion ARGS`` on ``database_url`` (``extra``: more ``CLARION_*`` variables); its
    output."""
    done = subprocess.run(
        [clarion_executable(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment(database_url, **extra),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"clarion {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def serve(
    database_url: str,
    log_path: Path,
    *,
    workers: int = 1,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``clarion serve --workers N [args]`` on a free loopback port until the block ends, with
    ``env`` added to its environment."""
    port = free_port()
    command = [clarion_executable(), "serve", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers), *args]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env=environment(database_url, **(env or {})),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, HOST, port)
    try:
        wait_ready(server)
        yield server
    except RuntimeError:
        sys.stderr.write(f"--- {log_path.name} ---\n{log_path.read_text()[-4000:]}\n")
        raise
    finally:
        stop(process, 15)


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if ``process`` has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"clarion serve exited with {server.process.returncode}")
        try:
            with urllib.request.urlopen(server.base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("clarion serve did not become healthy")


def unwind_on_sigterm() -> None:
    """Let a SIGTERM (``timeout``, CI) unwind like Ctrl-C, so that servers are stopped and
    temporary databases dropped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
