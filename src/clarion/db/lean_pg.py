"""PostgreSQL's lean connections: a few driver connections in autocommit mode, kept outside
SQLAlchemy's pool, for the lean reads and writes (``clarion.db.lean``).

Through the pool, each lean block cost a checkout (its events and greenlet switches), turning
autocommit on and off, and the reset on checkin: about as much of our CPU as the statement it
ran. These connections stay in autocommit for good: a SELECT is its own transaction, and a
lean write sends its inserts as one statement (``lean.AutocommitTx``), opening a transaction
only when it needs one.

A connection is opened through an engine (one without a pool, so that it is new) and detached
from it, so it has the dialect's own setup (type adapters, JSON loads). At most ``limit``
exist; a block that finds them all busy waits for one (first come, first served).

A connection is not pinged before use: one the server dropped while it sat idle (a restart, an
idle timeout) fails its first statement, and ``AutocommitTx`` replaces it and runs that
statement again when it was a self-contained read (a write is not repeated: its outcome is
unknown). A connection that comes back broken, in a
transaction or mid-statement (a cancelled block) is closed instead of being reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.db.lean import dropped


class LeanConnections:
    """Autocommit driver connections outside the pool (see the module)."""

    def __init__(self, engine: AsyncEngine, limit: int) -> None:
        self._engine = engine
        self.limit = max(1, limit)
        #: idle connections, the most recently used last (taken first: its backend is warm)
        self._idle: list[Any] = []
        self._count = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def count(self) -> int:
        """Connections open or being opened."""
        return self._count

    async def acquire(self) -> Any:
        """An idle connection, a new one while fewer than ``limit`` exist, else the next one
        released."""
        while True:
            if self._idle:
                return self._idle.pop()
            if self._count < self.limit:
                self._count += 1
                return await self._open_in_slot()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake()  # it was this one's turn: pass it on
                raise

    async def release(self, driver: Any, error: BaseException | None = None) -> None:
        """Give a connection back; one that is not clean, or that the block's ``error`` says is
        gone, is closed (and later replaced)."""
        if (
            not self._closed
            and _reusable(driver)
            and not (error is not None and dropped(error, driver))
        ):
            self._idle.append(driver)
        else:
            self._count -= 1
            await _close(driver)
        self._wake()

    async def replace(self, driver: Any) -> Any:
        """Close ``driver`` (found dropped) and open another in its place."""
        await _close(driver)
        return await self._open_in_slot()

    async def close(self) -> None:
        """Close the idle connections; those in use are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._count -= len(idle)
        for driver in idle:
            await _close(driver)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _open_in_slot(self) -> Any:
        """A new connection for a slot already counted; the slot is given up (and the next
        waiter woken) when it cannot be opened."""
        try:
            return await self._connect()
        except BaseException:
            self._count -= 1
            self._wake()
            raise

    async def _connect(self) -> Any:
        raw = await self._engine.raw_connection()
        driver: Any = raw.driver_connection
        raw.detach()
        try:
            await driver.set_autocommit(True)
        except BaseException:
            await _close(driver)
            raise
        return driver


def _reusable(driver: Any) -> bool:
    return bool(
        not driver.closed
        and not driver.broken
        and driver.info.transaction_status == TransactionStatus.IDLE
    )


async def _close(driver: Any) -> None:
    with contextlib.suppress(Exception):
        await driver.close()
