"""Processes writing to one SQLite file take turns through ``WriterTurns`` (an ``flock`` beside
the database): every write of racing processes lands, and a waiter that gives up never leaves
the lock taken."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from clarion.db.engine import Database
from clarion.db.inline_sqlite import WriterTurns, WriterTurnTimeout
from tests.harness import backend

pytestmark = pytest.mark.skipif(backend() != "sqlite", reason="SQLite's writers")


def _increment(url: str, times: int) -> int:
    async def run() -> int:
        db = Database(url)
        try:
            for _ in range(times):
                async with db.write() as session:
                    value = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                    await session.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
            return times
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_racing_processes_each_get_every_write_through(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/turns.db"

    async def setup() -> None:
        db = Database(url)
        async with db.write() as session:
            await session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await session.execute(text("INSERT INTO counter VALUES (0)"))
        await db.dispose()

    asyncio.run(setup())
    with ProcessPoolExecutor(max_workers=3) as pool:
        done = sum(pool.map(_increment, [url] * 3, [150] * 3))

    async def count() -> int:
        db = Database(url)
        async with db.read() as session:
            value = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
        await db.dispose()
        return int(value)

    # Read-modify-write in each transaction: a lost update would show as a smaller count.
    assert asyncio.run(count()) == done == 450
    assert Path(f"{tmp_path}/turns.db-writers.lock").exists()


def test_a_cancelled_waiter_hands_the_lock_back(tmp_path: Path) -> None:
    turns = WriterTurns(str(tmp_path / "x.db"))
    holder = os.open(turns.path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's turn

    async def run() -> None:
        async def wait_for_turn() -> None:
            async with turns.turn():
                raise AssertionError("got a turn while another writer held it")

        waiter = asyncio.create_task(wait_for_turn())
        await asyncio.sleep(0.2)
        assert not waiter.done()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        fcntl.flock(holder, fcntl.LOCK_UN)  # the other writer finishes
        await asyncio.sleep(0.3)  # the abandoned thread takes the lock and gives it back
        # Another process (another open file) can take it again: nothing was left held.
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(holder, fcntl.LOCK_UN)
        async with asyncio.timeout(5), turns.turn():
            pass

    try:
        asyncio.run(run())
    finally:
        os.close(holder)
        turns.close()


def test_a_writer_gives_up_after_its_wait_and_leaves_no_lock_held(tmp_path: Path) -> None:
    """A frozen process holding the writers' lock stops a writer for ``wait_seconds``, not
    for ever; the waiting thread that gets the lock after everyone gave up gives it back."""
    turns = WriterTurns(str(tmp_path / "x.db"))
    holder = os.open(turns.path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # the frozen process's turn

    async def run() -> None:
        for _ in range(2):  # the second waits on the same thread as the first
            started = time.monotonic()
            with pytest.raises(WriterTurnTimeout):
                async with turns.turn(wait_seconds=0.3):
                    raise AssertionError("got a turn while another writer held it")
            assert 0.25 < time.monotonic() - started < 2
        fcntl.flock(holder, fcntl.LOCK_UN)  # the frozen process goes on and finishes
        await asyncio.sleep(0.3)  # the abandoned wait takes the lock and gives it back
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(holder, fcntl.LOCK_UN)
        async with asyncio.timeout(5), turns.turn(wait_seconds=1):
            pass

    try:
        asyncio.run(run())
    finally:
        os.close(holder)
        turns.close()
