"""Group commit for SQLite's lean writes: concurrent writes share one transaction and one
``COMMIT``, each in its own savepoint.

A commit is the dearest part of a small SQLite write: it writes every page the transaction
touched to the WAL, and consecutive incidents touch mostly the same pages (the indexes' last
leaves, the page's row). When several writes are ready at once (a burst of publications), the
first opens a transaction (``BEGIN IMMEDIATE``, under the process's write lock and the
writers' turn) and every write that arrives while it is open joins it:

- each member runs in its own ``SAVEPOINT``, one at a time; a member that fails is rolled
  back to its savepoint and gets its exception at once (the others are untouched);
- a member that succeeded waits for the ``COMMIT``, and gets its error if the commit fails,
  so nothing is answered before it is durable;
- the transaction commits when no member is running or waiting to run after a trip round
  the event loop, or once it holds ``MAX_MEMBERS`` writes; a write that arrives during the
  commit opens the next one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import Engine

from clarion.db import inline_sqlite, lean
from clarion.db.lean import LeanTx

#: A transaction commits once it holds this many writes, even while more are arriving.
MAX_MEMBERS = 64


class _Batch:
    def __init__(self, tx: LeanTx) -> None:
        self.tx = tx
        self.turn = asyncio.Lock()
        self.members = 0
        self.running = 0
        self.closing = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.activity = asyncio.Event()


class GroupCommit:
    """Hands out savepoints of a shared write transaction (see the module)."""

    def __init__(
        self,
        engine: Engine,
        connection: Callable[[], sqlite3.Connection],
        writer: Callable[[], AbstractAsyncContextManager[None]],
        after: Callable[[], Awaitable[None]],
    ) -> None:
        self._engine = engine
        self._connection = connection
        self._writer = writer
        self._after = after
        self._open: _Batch | None = None
        self._starting = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def _batch(self) -> _Batch:
        """The open transaction to join, opened first if there is none."""
        while True:
            batch = self._open
            if batch is not None and not batch.closing and batch.members < MAX_MEMBERS:
                return batch
            async with self._starting:
                batch = self._open
                if batch is not None and not batch.closing and batch.members < MAX_MEMBERS:
                    return batch
                ready: asyncio.Future[_Batch] = asyncio.get_running_loop().create_future()
                task = asyncio.get_running_loop().create_task(self._run(ready))
                self._tasks.add(task)  # the loop keeps only a weak reference to a task
                task.add_done_callback(self._tasks.discard)
                return await ready

    async def _run(self, ready: asyncio.Future[_Batch]) -> None:
        """Open a transaction, let writes join, commit it (one task per transaction)."""
        info: dict[Any, Any] = {}
        try:
            async with self._writer():
                connection = self._connection()
                await inline_sqlite.begin_immediate_raw(connection)
                batch = _Batch(LeanTx(self._engine, connection, info))
                self._open = batch
                ready.set_result(batch)
                try:
                    await self._until_quiet(batch)
                    batch.closing = True
                    connection.commit()
                except BaseException as error:
                    batch.closing = True
                    connection.rollback()
                    if not batch.done.done():
                        batch.done.set_exception(error)
                        batch.done.exception()  # members that succeeded get it; no warning
                    raise
                finally:
                    if self._open is batch:
                        self._open = None
                    lean.released(self._engine, info)
                batch.done.set_result(None)
        except BaseException as error:
            if not ready.done():
                ready.set_exception(error)
            if not isinstance(error, Exception):
                raise
        await self._after()

    @staticmethod
    async def _until_quiet(batch: _Batch) -> None:
        while True:
            batch.activity.clear()
            await asyncio.sleep(0)  # writes that are ready to join do so now
            if batch.running == 0 and not batch.activity.is_set():
                return
            if batch.members >= MAX_MEMBERS and batch.running == 0:
                return
            if batch.running:
                await batch.activity.wait()

    @asynccontextmanager
    async def member(self) -> AsyncIterator[LeanTx]:
        """One write: a savepoint of the shared transaction; returns once it is committed."""
        batch = await self._batch()
        batch.members += 1
        batch.running += 1
        batch.activity.set()
        try:
            async with batch.turn:
                name = f"w{batch.members}"
                raw = batch.tx.driver
                raw.execute(f"SAVEPOINT {name}")
                try:
                    yield batch.tx
                except BaseException:
                    raw.execute(f"ROLLBACK TO {name}")
                    raw.execute(f"RELEASE {name}")
                    raise
                raw.execute(f"RELEASE {name}")
        finally:
            batch.running -= 1
            batch.activity.set()
        await asyncio.shield(batch.done)
