"""SQLite statements run on the event loop's own thread, behind SQLAlchemy's aiosqlite dialect.

aiosqlite gives every connection a thread and sends each call there through a queue, waking the
event loop again with the result. For a local SQLite file a statement takes microseconds, so that
round trip (two thread switches and a fight for the GIL, several per request) costs more than the
statements themselves. ``InlineConnection`` keeps aiosqlite's interface, which SQLAlchemy's
dialect drives, but runs each call at once on the calling thread.

This relies on aiosqlite's internals (``Connection._execute``, ``_connect``, ``_tx``,
``_running``, ``_connection``): the dependency is pinned to one release, and
``tests/db/test_inline_sqlite_internals.py`` fails the moment that release's ``Connection``
changes.

What this gives up, and why it is safe here:

- A statement blocks the event loop while it runs. Clarion's statements are indexed and short.
- SQLite's busy handler would also block the loop while another *process* holds the write lock
  (``clarion worker``, a CLI command). Writers in this process queue on an asyncio lock
  (``Database.write``); against other processes, ``begin_immediate`` tries without waiting and
  sleeps asynchronously between attempts, so the loop keeps serving while it waits. Reads never
  wait for writers in WAL mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url

#: Connections open with this busy timeout; ``begin_immediate`` lowers it while it polls.
BUSY_TIMEOUT_MS = 30_000


class _InlineQueue:
    """Stands in for aiosqlite's queue to its thread: runs each call at once, here."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting caller
            if future is not None and not future.done():
                future.set_exception(error)
            elif future is None:
                raise
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """``aiosqlite.Connection`` without its thread (see the module's docstring)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    @property
    def raw(self) -> sqlite3.Connection:
        """The ``sqlite3`` connection underneath."""
        if self._connection is None:
            raise ValueError("Connection closed")
        return self._connection

    def __await__(self) -> Any:
        return self._connect().__await__()


def async_creator(url: str) -> Callable[[], Any]:
    """``create_async_engine(async_creator=...)`` for ``url``: opens inline connections with the
    arguments SQLAlchemy's pysqlite dialect would have used."""

    async def create() -> InlineConnection:
        connection = InlineConnection(partial(connect, url))
        await connection
        return connection

    return create


def connect(url: str) -> sqlite3.Connection:
    """A ``sqlite3`` connection with the arguments SQLAlchemy's pysqlite dialect would use."""
    args, kwargs = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    options: dict[str, Any] = {**kwargs, "timeout": BUSY_TIMEOUT_MS / 1000}
    options["check_same_thread"] = False
    connection: sqlite3.Connection = sqlite3.connect(*args, **options)  # type: ignore[call-overload]
    return connection


def _is_busy(error: BaseException) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _immediate_attempts(raw: sqlite3.Connection, timeout_ms: int) -> Iterator[float]:
    """``BEGIN IMMEDIATE`` on ``raw`` without SQLite's blocking busy handler: yields how long to
    sleep before each retry while another process holds the write lock, and returns once the
    transaction has begun. The busy timeout is 0 meanwhile (restored afterwards)."""
    deadline = time.monotonic() + timeout_ms / 1000
    delay = 0.001
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() >= deadline:
                    raise
            yield delay
            delay = min(delay * 2, 0.05)
    finally:
        raw.execute(f"PRAGMA busy_timeout={timeout_ms}")


async def begin_immediate(connection: InlineConnection, timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """``BEGIN IMMEDIATE`` on an ``InlineConnection``, waiting for another process's write lock
    with asynchronous sleeps instead of SQLite's blocking busy handler (the loop keeps
    serving meanwhile). Called through SQLAlchemy's ``AdaptedConnection.run_async`` from the
    engine's ``begin`` event."""
    for delay in _immediate_attempts(connection.raw, timeout_ms):
        await asyncio.sleep(delay)


class WriterTurns:
    """Clarion's processes on one SQLite file take turns to write through an ``flock`` on a file
    beside the database, so that a process waiting for the write lock is woken the moment it
    is released. (Polling SQLite's lock instead let a process that writes back to back take
    it again and again before a poller looked: seconds of waiting for the other process.)

    Taking a free lock is one non-blocking system call on the event loop; waiting for a held
    one happens on a thread, so the loop keeps serving meanwhile."""

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writers.lock"
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        fd = self._descriptor()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting = asyncio.get_running_loop().run_in_executor(
                None, fcntl.flock, fd, fcntl.LOCK_EX
            )
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                # The thread will still get the lock: hand it back as soon as it does.
                def give_back(done: asyncio.Future[None]) -> None:
                    if not done.cancelled() and done.exception() is None:
                        fcntl.flock(fd, fcntl.LOCK_UN)

                waiting.add_done_callback(give_back)
                raise
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
