"""Group commit for PostgreSQL's lean writes: the statements of concurrent writes share one
transaction and one ``COMMIT``.

A lean write on PostgreSQL ends with one statement, all its INSERTs together
(``lean.AutocommitTx``). Committed alone, each held the page's row at its commit (the trigger
that applies ``pending_page_bumps`` updates it, migration 0005) through the WAL flush, so
concurrent publications on one page queued behind each other's commits: with 32 clients, most
of a create's time was spent waiting for that lock, not working. Here one task per transaction
runs the statements handed to it, one after another on one connection, and commits them
together: one WAL flush and one turn on the page's row for the lot.

- A statement that fails rolls the transaction back; the statements that had succeeded in it
  run again in a new one (they committed nothing), and the failed one's writer gets its error
  once the transaction it would have joined has ended (so a lost idempotency race replays a
  committed winner).
- A writer returns once its statement is committed, or gets the commit's error.
- The transaction commits when no statement is waiting after a trip round the event loop, or
  once it holds ``MAX_MEMBERS``; a statement that arrives during a commit opens the next one.
- With more than one statement, the pages the transaction bumps are locked in id order
  before ``COMMIT``, the order in which every other transaction locks them, so that two
  transactions bumping the same pages cannot deadlock (the triggers would take them in the
  order the rows went in).
- The writers' own connections are not held meanwhile: the transaction has a connection of its
  own from the same lean connections (replaced if its ``BEGIN`` finds it dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from clarion.db.lean import dropped
from clarion.db.lean_pg import LeanConnections

#: A transaction commits once it holds this many statements, even while more are arriving.
MAX_MEMBERS = 64

#: The pages this transaction bumps, locked as the bump's ``UPDATE`` will lock them.
LOCK_BUMPED_PAGES = (
    "SELECT id FROM status_pages WHERE id IN (SELECT status_page_id FROM pending_page_bumps) "
    "ORDER BY id FOR NO KEY UPDATE"
)


@dataclass(eq=False)
class _Member:
    sql: str
    params: Sequence[Any]
    done: asyncio.Future[None]
    error: BaseException | None = None


@dataclass(eq=False)
class _Batch:
    waiting: deque[_Member] = field(default_factory=deque)
    members: int = 0
    closing: bool = False


class PgGroupCommit:
    """Runs write statements in shared transactions (see the module)."""

    def __init__(self, connections: LeanConnections) -> None:
        self._connections = connections
        self._open: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, sql: str, params: Sequence[Any]) -> None:
        """Run ``sql`` in the shared transaction; return once it is committed."""
        loop = asyncio.get_running_loop()
        batch = self._open
        if batch is None or batch.closing or batch.members >= MAX_MEMBERS:
            batch = self._open = _Batch()
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._tasks.discard)
        member = _Member(sql, params, loop.create_future())
        batch.waiting.append(member)
        batch.members += 1
        await asyncio.shield(member.done)

    async def _run(self, batch: _Batch) -> None:
        ran: list[_Member] = []
        failed: list[_Member] = []
        error: BaseException | None = None
        driver: Any = None
        try:
            driver = await self._connections.acquire()
            try:
                await driver.execute("BEGIN", prepare=False)
            except psycopg.OperationalError as lost:
                if not dropped(lost, driver):
                    raise
                driver = await self._connections.replace(driver)  # nothing was sent on it
                await driver.execute("BEGIN", prepare=False)
            while True:
                while batch.waiting:
                    member = batch.waiting.popleft()
                    try:
                        await driver.execute(member.sql, member.params)
                    except psycopg.Error as refused:
                        if dropped(refused, driver):
                            batch.waiting.appendleft(member)
                            raise
                        member.error = refused
                        failed.append(member)
                        await driver.execute("ROLLBACK; BEGIN", prepare=False)
                        batch.waiting.extendleft(reversed(ran))
                        ran = []
                        continue
                    ran.append(member)
                await asyncio.sleep(0)  # statements that are ready to join do so now
                if not batch.waiting:
                    break
            batch.closing = True
            if self._open is batch:
                self._open = None
            # One round trip: without parameters, psycopg sends a string of statements as is.
            await driver.execute(
                f"{LOCK_BUMPED_PAGES}; COMMIT" if len(ran) > 1 else "COMMIT", prepare=False
            )
        except BaseException as problem:
            error = problem
            batch.closing = True
            if self._open is batch:
                self._open = None
            if driver is not None:
                with contextlib.suppress(Exception):
                    await driver.execute("ROLLBACK", prepare=False)
        finally:
            if driver is not None:
                await self._connections.release(driver, error)
        for member in [*ran, *batch.waiting]:
            _settle(member.done, error)
        for member in failed:
            _settle(member.done, member.error)
        if error is not None and not isinstance(error, Exception):
            raise error


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
        done.exception()  # retrieved: no warning if its writer was cancelled meanwhile
