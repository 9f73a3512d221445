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
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import quote

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


def async_creator(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Callable[[], Any]:
    """``create_async_engine(async_creator=...)`` for ``url``: opens inline connections with the
    arguments SQLAlchemy's pysqlite dialect would have used, to the file that exists (a
    connection never creates one: only the migrations do, see ``clarion.db.files``, so a file
    deleted under a running Clarion is not silently replaced by an empty one)."""

    async def create() -> InlineConnection:
        connection = InlineConnection(partial(connect, url, busy_timeout_ms, must_exist=True))
        await connection
        return connection

    return create


def connect(
    url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *, must_exist: bool = False
) -> sqlite3.Connection:
    """A ``sqlite3`` connection with the arguments SQLAlchemy's pysqlite dialect would use;
    ``must_exist``: fail instead of creating the file (SQLite's ``mode=rw``)."""
    args, kwargs = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    options: dict[str, Any] = {**kwargs, "timeout": busy_timeout_ms / 1000}
    options["check_same_thread"] = False
    if must_exist and args and args[0] != ":memory:" and not options.get("uri"):
        args = [f"file:{quote(str(args[0]))}?mode=rw", *args[1:]]
        options["uri"] = True
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


class WriterTurnTimeout(sqlite3.OperationalError):
    """Another process held the writers' turn for longer than the lock timeout (a frozen or
    very slow writer). A ``sqlite3.OperationalError``, like SQLite's own "database is locked"."""


class WriterTurns:
    """Clarion's processes on one SQLite file take turns to write through an ``flock`` on a file
    beside the database, so that a process waiting for the write lock is woken the moment it
    is released. (Polling SQLite's lock instead let a process that writes back to back take
    it again and again before a poller looked: seconds of waiting for the other process.)

    Taking a free lock is one non-blocking system call on the event loop; waiting for a held
    one happens on a thread of this object's own, so the loop keeps serving meanwhile. A wait
    gives up after ``timeout`` seconds (``WriterTurnTimeout``): a frozen process holding the
    lock stops no writer for longer than that. The thread keeps waiting; the next writer of
    this process waits on that same thread, and a lock it gets with nobody waiting for it any
    more is given back at once."""

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writers.lock"
        self._fd: int | None = None
        self._pending: asyncio.Future[None] | None = None
        self._waiters = 0

    def _descriptor(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:  # a read-only or full file system: as SQLite would say
                raise sqlite3.OperationalError(
                    f"cannot open the writers' lock: {error.strerror}"
                ) from error
        return self._fd

    @contextlib.asynccontextmanager
    async def turn(self, wait_seconds: float = BUSY_TIMEOUT_MS / 1000) -> AsyncIterator[None]:
        fd = self._descriptor()
        try:
            if self._pending is not None:
                raise BlockingIOError  # a thread already waits: queue behind it
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await self._wait(fd, wait_seconds)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    async def _wait(self, fd: int, wait_seconds: float) -> None:
        """Wait (on the thread) until the lock is this process's, or ``wait_seconds`` pass."""
        pending = self._pending
        if pending is None:
            pending = self._pending = _flock_on_a_thread(fd)
            pending.add_done_callback(self._settle)
        self._waiters += 1
        try:
            async with asyncio.timeout(wait_seconds):
                await asyncio.shield(pending)
        except BaseException as error:
            # Timed out or cancelled. Had the lock come meanwhile, it was meant for this
            # waiter (``_settle`` left it): give it back.
            self._waiters -= 1
            if pending.done() and self._pending is pending:
                self._pending = None
                if not pending.cancelled() and pending.exception() is None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            if isinstance(error, TimeoutError):
                raise WriterTurnTimeout(
                    f"another process held the writers' lock for over {wait_seconds:g} s"
                ) from None
            raise
        self._waiters -= 1
        if self._pending is pending:
            self._pending = None

    def _settle(self, pending: asyncio.Future[None]) -> None:
        """The thread got the lock (or failed): give it back if nobody waits for it now."""
        if self._pending is not pending or self._waiters:
            return
        self._pending = None
        if not pending.cancelled() and pending.exception() is None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock, and ends a wait on it
            self._fd = None


def _flock_on_a_thread(fd: int) -> asyncio.Future[None]:
    """``flock(fd, LOCK_EX)`` on a daemon thread of its own (a process that exits while a
    frozen one holds the lock does not wait for it), as a future of the running loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def deliver(error: OSError | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def wait() -> None:
        error: OSError | None = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as failed:
            error = failed
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
            loop.call_soon_threadsafe(deliver, error)

    threading.Thread(target=wait, name="clarion-writers-lock", daemon=True).start()
    return done
