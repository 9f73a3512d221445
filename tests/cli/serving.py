"""``clarion serve`` as a process for tests: a database with one status page, a key on it, and
the server on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.contract.cli import cli_environment, run_cli, stop_process
from tests.harness import free_port, fresh_database

DECLARATION = """\
components:
  - {key: api, name: API}
status_pages:
  - slug: workers
    name: Workers
    items:
      - component: api
"""


@contextmanager
def database_with_a_page(folder: Path) -> Iterator[str]:
    """A fresh, migrated database with one status page (``DECLARATION``)."""
    with fresh_database(str(folder)) as url:
        run_cli(url, "db", "upgrade")
        declaration = folder / "page.yaml"
        declaration.write_text(DECLARATION)
        run_cli(url, "apply", str(declaration))
        yield url


def publisher_token(url: str) -> str:
    """A new key that reads and publishes."""
    roles = ("--role", "viewer", "--role", "status_page_publisher")
    return run_cli(url, "keys", "create", "--name", "serve", *roles).stdout.strip()


@contextmanager
def clarion_serve(
    url: str, log: Path, *args: str, port: int | None = None, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``clarion serve --no-worker ARGS`` (``env``: more ``CLARION_*`` settings; by default
    ``CLARION_BASE_URL`` is where it listens) on ``port`` or a free one, once it answers
    ``/healthz``; yields the process and the URL it listens on. Stopped with SIGTERM (SIGKILL
    after 20 s) if it still runs when the block ends."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    environment = cli_environment(url, **{"CLARION_BASE_URL": base, **env})
    environment.setdefault("CLARION_LOG_LEVEL", "warning")
    if not environment["CLARION_BASE_URL"]:
        del environment["CLARION_BASE_URL"]  # derived by clarion serve
    command = [sys.executable, "-m", "clarion", "serve", "--port", str(port), "--no-worker"]
    with log.open("ab") as out:
        process = subprocess.Popen([*command, *args], env=environment, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield process, base
    finally:
        stop_process(process, 20)
