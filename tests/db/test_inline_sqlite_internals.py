"""``clarion.db.inline_sqlite`` subclasses aiosqlite's ``Connection`` and replaces parts of its
internals (its worker thread's queue, ``_execute``, ``_connect``). That is the one private
interface of a dependency Clarion uses: aiosqlite is pinned to one release, and these tests fail
the moment the code it relies on differs from what was reviewed, so an upgrade is a decision,
never an accident."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path

import aiosqlite.core
import aiosqlite.cursor

from clarion.db.inline_sqlite import InlineConnection, connect

#: The reviewed release, and digests of the source of the classes whose internals are used.
RELEASE = "0.22.1"
REVIEWED = {
    aiosqlite.core.Connection: "648644bef40ab600edf63b2cf3a5e907f7bbef06f8378a50d12d0a72d82497ee",
    aiosqlite.cursor.Cursor: "8399bf7a6c292516854b6e2f0f8f49e5414370fbde694c4721643e0a7a232306",
}


def test_aiosqlite_is_the_reviewed_release_and_its_connection_code_is_unchanged() -> None:
    assert version("aiosqlite") == RELEASE
    for cls, digest in REVIEWED.items():
        source = inspect.getsource(cls).encode()
        assert hashlib.sha256(source).hexdigest() == digest, (
            f"aiosqlite's {cls.__name__} changed: review clarion.db.inline_sqlite against it, "
            "then record the new digest here"
        )


def test_statements_run_on_the_calling_thread_without_a_worker_thread(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, int]:
        connection = InlineConnection(lambda: connect(f"sqlite:///{tmp_path}/inline.db"))
        await connection
        try:
            seen: list[int] = []
            raw: sqlite3.Connection = connection.raw
            raw.create_function("thread_id", 0, lambda: seen.append(threading.get_ident()) or 1)
            cursor = await connection.execute("SELECT thread_id()")
            assert await cursor.fetchone() == (1,)
            return seen[0], threading.get_ident(), threading.active_count()
        finally:
            await connection.close()

    before = threading.active_count()
    ran_on, caller, during = asyncio.run(scenario())
    assert ran_on == caller
    assert during == before  # aiosqlite's worker thread was never started
