"""Engines and units of work.

``Database.read()`` and ``Database.write()`` are the two ways to reach the database: each gives
one ``AsyncSession`` in one transaction; ``write`` commits when the block ends without an
exception and rolls back otherwise. Services flush, never commit.

SQLite: WAL, ``BEGIN IMMEDIATE`` for writes (so a writer takes the lock up front instead of
failing on upgrade), plain ``BEGIN`` for reads, and writes in this process serialised by an
asyncio lock so they queue here rather than spin in SQLite's busy handler. Statements run on the
event loop's thread (``inline_sqlite``), not on aiosqlite's per-connection threads.

Every write that changes what a status page shows calls ``touch_page`` (see
``status_pages.versions``); ``Database.page_changes`` counts the committed transactions that
did, so that memos of page versions kept in this process know when to look again.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import UniqueConstraint, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from clarion.db import files, inline_sqlite
from clarion.errors import ServiceUnavailable

SQLITE_BUSY_TIMEOUT_MS = inline_sqlite.BUSY_TIMEOUT_MS
#: ``session.info`` key: the status pages whose content the transaction changed.
TOUCHED_PAGES = "clarion_touched_pages"


def _enable_wal(cursor: Any, attempts: int = 100) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the lock it needs.

    On a new database file, the first connections of processes starting together (replicas,
    ``clarion db upgrade`` racing ``clarion serve``) race to switch it to WAL, and SQLite
    answers the losers "database is locked" at once, without waiting on the busy timeout. On a
    database already in WAL mode the statement changes nothing and never waits."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.02)


def _prepare_sqlite(connection: Any, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """Every SQLite connection's settings (for ``sqlite3`` and aiosqlite connections alike)."""
    # Python 3.11's sqlite3 module opens transactions on its own and never for SELECT;
    # take control of BEGIN ourselves (SQLAlchemy's documented pysqlite recipe).
    connection.isolation_level = None
    cursor = connection.cursor()
    _enable_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.close()


#: How long the write transaction being opened may wait for the write lock, in ms, when it is
#: not the database's lock timeout (``Database.write(lock_wait_seconds=…)``).
_WRITE_WAIT_MS: ContextVar[int | None] = ContextVar("clarion_write_wait_ms", default=None)


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int, busy_ms: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        async_creator=inline_sqlite.async_creator(url, busy_ms),
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _prepare_sqlite(dbapi_connection, busy_ms)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if immediate:
            wait_ms = _WRITE_WAIT_MS.get() or busy_ms
            conn.connection.dbapi_connection.run_async(
                lambda c: inline_sqlite.begin_immediate(c, wait_ms)
            )
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _postgresql_options(
    statement_timeout_seconds: float, lock_timeout_seconds: float, connect_timeout_seconds: int
) -> dict[str, Any]:
    """psycopg's connection arguments: the server-side timeouts every session starts with, so
    that a held lock or a runaway statement fails the request instead of hanging it (and the
    connection it holds)."""
    statement_ms = max(1, round(statement_timeout_seconds * 1000))
    lock_ms = max(1, round(lock_timeout_seconds * 1000))
    return {
        "options": f"-c statement_timeout={statement_ms} -c lock_timeout={lock_ms}",
        "connect_timeout": connect_timeout_seconds,
    }


@asynccontextmanager
async def _inline_session(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, closed directly when the block ends.

    SQLAlchemy's ``async with session`` closes through a new task under ``asyncio.shield``, so
    that a cancellation cannot cut a close short; the connection stays checked out until that
    task runs, and under load requests then queue for the pool. With inline SQLite connections
    nothing in ``close()`` suspends, so there is nothing for a cancellation to interrupt."""
    session = sessions()
    try:
        async with session.begin():
            yield session
    finally:
        await session.close()


async def _let_others_run() -> None:
    """One trip round the event loop after an inline SQLite block, once its connection is back
    in the pool. Inline statements never suspend, so without it a loop of database work (the
    outbox claiming batches, say) would hold the event loop, and every request, until done."""
    await asyncio.sleep(0)


#: A pooled PostgreSQL connection unused for longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a connection on checkout only when it has been idle (``pool_pre_ping`` checks on
    every checkout: one more round trip per request).

    A connection that the server dropped while it sat in the pool (a restart, an idle timeout)
    is replaced before any request sees it: raising ``DisconnectionError`` from the checkout
    event makes the pool discard it and try another, as SQLAlchemy documents. A connection
    lost while in busy use fails that request, and SQLAlchemy then invalidates the pool."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get("checked_in_at")
        if last is not None and time.monotonic() - last < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError(str(error)) from error
            raise

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()


#: How often a read checks that the SQLite file is still the one opened (writes always do).
FILE_CHECK_SECONDS = 0.25


class Database:
    """Owns the engines; hands out read and write transactions.

    ``lock_timeout_seconds`` bounds every wait for a lock another session or process holds
    (PostgreSQL's ``lock_timeout``; on SQLite the writers' turn, ``BEGIN IMMEDIATE`` and the
    busy handler), ``statement_timeout_seconds`` every PostgreSQL statement.

    A SQLite database is the file that was at its path when Clarion opened it (``files``):
    once that file is deleted, moved or replaced, every transaction fails with
    ``ServiceUnavailable`` (nothing is acknowledged into a file that is no longer there) until
    it is back."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 32,
        lock_timeout_seconds: float = inline_sqlite.BUSY_TIMEOUT_MS / 1000,
        statement_timeout_seconds: float = 30.0,
        connect_timeout_seconds: int = 5,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.lock_timeout_seconds = lock_timeout_seconds
        #: Committed write transactions (in this process) that changed a status page.
        self.page_changes = 0
        self.write_lock = asyncio.Lock()
        self._writer_turns: inline_sqlite.WriterTurns | None = None
        self.file: files.DatabaseFile | None = None
        self._file_checked_at = 0.0
        self._file_problem: str | None = None
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                # A new file is created here, private; never by a connection afterwards.
                files.prepare(path, make_folder=False)
                self._writer_turns = inline_sqlite.WriterTurns(path)
                self.file = files.DatabaseFile(path)
            busy_ms = max(1, round(lock_timeout_seconds * 1000))
            self.write_engine = _sqlite_engine(url, immediate=True, pool_size=1, busy_ms=busy_ms)
            self.read_engine = _sqlite_engine(url, immediate=False, pool_size=4, busy_ms=busy_ms)
        else:
            self.write_engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size // 2,
                json_deserializer=orjson.loads,
                connect_args=_postgresql_options(
                    statement_timeout_seconds, lock_timeout_seconds, connect_timeout_seconds
                ),
            )
            _ping_when_idle(self.write_engine)
            self.read_engine = self.write_engine
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def check_file(self) -> None:
        """Raise ``ServiceUnavailable`` when the SQLite file at the database's path is not the
        one opened (deleted, moved, replaced)."""
        if self.file is None:
            return
        self._file_checked_at = time.monotonic()
        self._file_problem = self.file.problem()
        if self._file_problem is not None:
            raise ServiceUnavailable("database_file_changed", self._file_problem)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A transaction for reading (nothing is written through it)."""
        if self.is_sqlite:
            if time.monotonic() - self._file_checked_at >= FILE_CHECK_SECONDS:
                self.check_file()
            elif self._file_problem is not None:
                raise ServiceUnavailable("database_file_changed", self._file_problem)
            async with _inline_session(self._read_sessions) as session:
                yield session
            await _let_others_run()
        else:
            async with self._read_sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def write(self, lock_wait_seconds: float | None = None) -> AsyncIterator[AsyncSession]:
        """A write transaction that commits when the block ends cleanly. ``lock_wait_seconds``:
        how long to wait for another process's write lock on SQLite (default: the lock
        timeout)."""
        if self.is_sqlite:
            self.check_file()
            wait = self.lock_timeout_seconds if lock_wait_seconds is None else lock_wait_seconds
            turn = self._writer_turns.turn(wait) if self._writer_turns else nullcontext()
            token = _WRITE_WAIT_MS.set(max(1, round(wait * 1000)))
            try:
                async with (
                    self.write_lock,
                    turn,
                    _inline_session(self._write_sessions) as session,
                ):
                    yield session
                    # Before the commit: never acknowledge a write into a file no longer there.
                    self.check_file()
            finally:
                _WRITE_WAIT_MS.reset(token)
            if session.info.get(TOUCHED_PAGES):
                self.page_changes += 1
            # Outside the write lock and the writers' turn: other writers go meanwhile.
            await _let_others_run()
        else:
            async with self._write_sessions() as session, session.begin():
                yield session
            if session.info.get(TOUCHED_PAGES):
                self.page_changes += 1

    async def ping(self, timeout_seconds: float = 2.0) -> bool:
        """True when the database answers a trivial query within ``timeout_seconds``."""
        try:
            async with asyncio.timeout(timeout_seconds), self.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        if self._writer_turns is not None:
            self._writer_turns.close()
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def sync_url(url: str) -> str:
    """The synchronous-driver twin of an async URL (for Alembic)."""
    return url.replace("sqlite+aiosqlite", "sqlite").replace(
        "postgresql+asyncpg", "postgresql+psycopg"
    )


def make_sync_engine(url: str) -> Engine:
    from sqlalchemy import create_engine

    engine = create_engine(sync_url(url), poolclass=NullPool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            _enable_wal(cursor)
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_unique_violation(error: IntegrityError, constraint: UniqueConstraint) -> bool:
    """Whether ``error`` is a violation of ``constraint`` (a named unique constraint of a
    model's table), as each backend reports it."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None:  # psycopg: the constraint by name
        return bool(diag.constraint_name == constraint.name)
    table = constraint.table.name
    columns = ", ".join(f"{table}.{column.name}" for column in constraint.columns)
    return f"UNIQUE constraint failed: {columns}" in str(error.orig)
