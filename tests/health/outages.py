"""Faults of the database, made for real: taken away (PostgreSQL refusing connections, the
SQLite file moved), a lock held by another session, a frozen process holding the write lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from clarion.db.files import sqlite_path
from tests.contract.cli import cli_environment
from tests.harness import PG_ADMIN_URL, backend


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextmanager
def database_taken_away(url: str) -> Iterator[None]:
    """The database unavailable until the block ends: PostgreSQL refuses new connections and
    has closed the open ones; the SQLite file (with its ``-wal`` and ``-shm``) is moved away."""
    if backend() == "postgresql":
        name = _database_name(url)
        _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        try:
            yield
        finally:
            _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        return
    path = sqlite_path(url)
    assert path is not None
    moved = [(f"{path}{suffix}", f"{path}{suffix}.away") for suffix in ("", "-wal", "-shm")]
    for here, away in moved:
        if os.path.exists(here):
            os.rename(here, away)
    try:
        yield
    finally:
        for here, away in moved:
            if os.path.exists(away):
                os.rename(away, here)


#: Holds the write lock as a writer of Clarion holds it, says so, and waits (to be frozen).
_HOLDER = """
import asyncio, sys
from sqlalchemy import text
from clarion.db.engine import Database
from clarion.settings import Settings

async def main() -> None:
    db = Database(Settings(database_url=sys.argv[1]).database_url)
    async with db.write() as session:
        if db.dialect == "postgresql":
            await session.execute(text("LOCK TABLE incidents, status_pages"))
        else:
            await session.execute(text("DELETE FROM heartbeats WHERE name = 'none'"))
        print("holding", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@contextmanager
def frozen_lock_holder(url: str) -> Iterator[int]:
    """A process that took the write lock (SQLite: the writers' turn and ``BEGIN
    IMMEDIATE``; PostgreSQL: ``LOCK TABLE incidents, status_pages``, which every read and
    write of them waits for) and was then frozen with SIGSTOP; killed when the block ends.
    Yields its pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdout=subprocess.PIPE,
        env=cli_environment(url),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"holding"
        os.kill(process.pid, signal.SIGSTOP)
        yield process.pid
    finally:
        process.kill()
        process.wait(10)
