"""Real ``clarion worker`` processes for the outbox's fault tests: started against a live
server's database and an SMTP server, stopped (SIGTERM, then SIGKILL) when the block ends."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from clarion.context import AppContext
from tests.contract.cli import stop_process
from tests.harness import LiveServer
from tests.subscribers.helpers import outbox_rows


@contextmanager
def worker(
    server: LiveServer, smtp_url: str, log: Path, **settings: Any
) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    values = {
        "database_url": server.settings.database_url,
        "base_url": server.settings.base_url,
        "secret_key": server.settings.secret_key,
        "smtp_url": smtp_url,
        "smtp_from": "status@example.test",
        "outbox_batch_size": "10",
        "outbox_concurrency": "4",
        "smtp_pool_size": "4",
        "maintenance_reminder_minutes": "0",
        "log_level": "info",
    }
    values.update({k: str(v) for k, v in settings.items()})
    env.update({f"CLARION_{k.upper()}": v for k, v in values.items()})
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "clarion", "worker"], env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        stop_process(process, 15)


def wait_until_running(logs: list[Path], timeout: float = 90) -> None:
    """Until every worker has started its jobs (so they compete from the first row)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(log.exists() and "worker running jobs" in log.read_text() for log in logs):
            return
        time.sleep(0.1)
    raise AssertionError("the workers did not start")


def wait_until_all_sent(
    server: LiveServer, subject_id: str, count: int, timeout: float = 90
) -> float:
    """Until the ``count`` rows of ``subject_id`` are all sent; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        rows = outbox_rows(server, subject_id=subject_id)
        if len(rows) == count and all(r.status == "sent" for r in rows):
            return time.monotonic() - started
        time.sleep(0.2)
    states = sorted(r.status for r in outbox_rows(server, subject_id=subject_id))
    raise AssertionError(f"not all sent: {states}")


def pause_outside_a_transaction(process: subprocess.Popen[bytes], server: LiveServer) -> None:
    """SIGSTOP ``process`` at a moment it is not inside a write transaction, so the paused
    worker holds no lock the others need (what a process frozen holding SQLite's write lock
    does to every writer is another matter than the outbox's leases).

    SQLite: take the writers' turn (the ``flock`` Clarion's processes share) first, so the
    process cannot be writing. PostgreSQL: stop it, and try again while any other session of
    the database is inside a transaction."""
    if server.settings.is_sqlite:
        database = make_url(server.settings.database_url).database
        fd = os.open(f"{database}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            process.send_signal(signal.SIGSTOP)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return

    async def busy_sessions(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            found = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
            )
            return int(found or 0)

    for _ in range(200):
        process.send_signal(signal.SIGSTOP)
        time.sleep(0.05)
        if server.call(busy_sessions) == 0:
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("the worker was always inside a transaction")
