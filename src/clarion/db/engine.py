"""Engines and transactions.

``Database.read()`` and ``Database.write()`` each give one session in one transaction; ``write``
commits when the block ends without an exception. Services flush, never commit.

SQLite: WAL, ``BEGIN IMMEDIATE`` for writes (so a writer takes the lock up front instead of
failing on upgrade), plain ``BEGIN`` for reads, and writes in this process serialised by an
asyncio lock so they queue here rather than spin in SQLite's busy handler. Statements run on the
event loop's thread (``inline_sqlite``), not on aiosqlite's per-connection threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from functools import partial
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from clarion.db import inline_sqlite
from clarion.db.group_commit import GroupCommit
from clarion.db.group_commit_pg import PgGroupCommit
from clarion.db.lean import AutocommitTx, LeanTx, released
from clarion.db.lean_pg import LeanConnections

SQLITE_BUSY_TIMEOUT_MS = inline_sqlite.BUSY_TIMEOUT_MS
#: Execution option: this connection runs single self-contained statements, no BEGIN.
NO_BEGIN = "clarion_no_begin"


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


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int, reset: bool = True) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        async_creator=inline_sqlite.async_creator(url),
        json_deserializer=orjson.loads,
        # Every use of the read engine ends its transaction itself (a session's ``begin()``
        # block, or a connection's close), so the pool's extra ROLLBACK on return would be a
        # wasted round trip to aiosqlite's thread on every request.
        pool_reset_on_return="rollback" if reset else None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _prepare_sqlite(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(NO_BEGIN):
            return
        if immediate:
            inline_sqlite.begin_immediate(conn.connection.driver_connection)
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


@asynccontextmanager
async def _inline_session(
    sessions: async_sessionmaker[AsyncSession], *, then_yield: bool = True
) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, closed directly when the block ends.

    SQLAlchemy's ``async with session`` closes through a new task under ``asyncio.shield``, so
    that a cancellation cannot cut a close short. That costs a trip round the event loop per
    request, and the connection stays checked out meanwhile: under load, requests then queue
    for the pool, and ``asyncio.Queue`` lets newcomers take a returned connection before the
    requests already waiting, which starved some of them for seconds (the benchmark's tail).
    With inline SQLite connections nothing in ``close()`` suspends, so there is nothing for a
    cancellation to interrupt and the shield is not needed. Other tasks get their turn after
    the connection is back (``_let_others_run``), unless the caller gives it (``then_yield``)."""
    session = sessions()
    try:
        async with session.begin():
            yield session
    finally:
        await session.close()
    if then_yield:
        await _let_others_run()


async def _let_others_run() -> None:
    """One trip round the event loop after an inline SQLite block, once its connection is back
    in the pool. Inline statements never suspend, so without it a loop of database work (the
    outbox claiming batches, say) would hold the event loop, and every request, until done."""
    await asyncio.sleep(0)


#: A pooled PostgreSQL connection unused for longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a connection on checkout only when it has been idle (``pool_pre_ping`` checks on
    every checkout: one more round trip per request, about a fifth of a cached list's cost).

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


class Database:
    """Owns the engines; hands out read and write transactions."""

    def __init__(self, url: str, *, pool_size: int = 32) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock: asyncio.Lock | None = None
        #: SQLite's lean connections, by "is the writer" (``_lean_sqlite``)
        self._lean_connections: dict[bool, sqlite3.Connection] = {}
        self._group_commit: GroupCommit | None = None
        #: PostgreSQL's lean connections (``clarion.db.lean_pg``)
        self._lean_pg: LeanConnections | None = None
        self._pg_group_commit: PgGroupCommit | None = None
        self._writer_turns: inline_sqlite.WriterTurns | None = None
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                self._writer_turns = inline_sqlite.WriterTurns(path)
            self.write_engine = _sqlite_engine(url, immediate=True, pool_size=1)
            self.read_engine = _sqlite_engine(url, immediate=False, pool_size=4, reset=False)
        else:
            self.write_engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size // 2,
                json_deserializer=orjson.loads,
            )
            _ping_when_idle(self.write_engine)
            self.read_engine = self.write_engine
            # Lean connections are opened through an engine of their own, without a pool, so
            # that each is new (one taken from the pool might have been dropped meanwhile).
            self._lean_engine = create_async_engine(
                url, poolclass=NullPool, json_deserializer=orjson.loads
            )
            self._lean_pg = LeanConnections(self._lean_engine, max(2, pool_size // 2))
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A transaction for reading (nothing is written through it)."""
        if self.is_sqlite:
            async with _inline_session(self._read_sessions) as session:
                yield session
        else:
            async with self._read_sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction that commits when the block ends cleanly."""
        if self.is_sqlite:
            async with (
                self._sqlite_writer(),
                _inline_session(self._write_sessions, then_yield=False) as s,
            ):
                yield s
            # Outside the write lock and the writers' turn: other writers go meanwhile.
            await _let_others_run()
        else:
            async with self._write_sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[None]:
        """This process's write lock, then the writers' turn across processes."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        turn = self._writer_turns.turn() if self._writer_turns else nullcontext()
        async with self._write_lock, turn:
            yield

    def _lean_sqlite(self, writer: bool) -> sqlite3.Connection:
        """SQLite's lean connections, kept outside the pools: one for writes (they take turns
        on the write lock), one for reads (an inline statement never suspends, so callers
        cannot interleave on it). The writer has no busy timeout: it waits for other
        processes in ``BEGIN IMMEDIATE``'s asynchronous polling, never inside SQLite."""
        found = self._lean_connections.get(writer)
        if found is None:
            found = inline_sqlite.connect(self.url)
            _prepare_sqlite(found, 0 if writer else SQLITE_BUSY_TIMEOUT_MS)
            self._lean_connections[writer] = found
        return found

    @asynccontextmanager
    async def lean_write(self) -> AsyncIterator[LeanTx]:
        """A write on a driver connection (``clarion.db.lean``), committed when the block ends
        cleanly and rolled back otherwise; same locking as ``write()``. On SQLite, concurrent
        lean writes share a transaction, each in its own savepoint, and the block ends once
        their common ``COMMIT`` is done (``clarion.db.group_commit``)."""
        engine = self.write_engine.sync_engine
        if self._lean_pg is not None:
            info: dict[Any, Any] = {}
            try:
                async with self._pg_lean(engine, info) as tx:
                    yield tx
                    write = await tx.finish()
                if write is not None:  # the usual case: the block's inserts, as one statement
                    sql, params, texts = write
                    if self._pg_group_commit is None:
                        self._pg_group_commit = PgGroupCommit(self._lean_pg)
                    await self._pg_group_commit.write(sql, params)
                    tx.ran(texts)
            finally:
                released(engine, info)
            return
        if self._group_commit is None:
            self._group_commit = GroupCommit(
                engine, partial(self._lean_sqlite, True), self._sqlite_writer, _let_others_run
            )
        async with self._group_commit.member() as member:
            yield member

    @asynccontextmanager
    async def lean_read(self) -> AsyncIterator[LeanTx]:
        """``read_single`` on a driver connection (``clarion.db.lean``): self-contained
        statements outside any transaction, for the lookups every API request makes."""
        engine = self.read_engine.sync_engine
        if self.is_sqlite:
            yield LeanTx(engine, self._lean_sqlite(writer=False), {})
            await _let_others_run()
            return
        async with self._pg_lean(engine, {}) as tx:
            yield tx
            if tx.holds_writes:
                raise RuntimeError("lean_read is for reads; write in lean_write")

    @asynccontextmanager
    async def _pg_lean(self, engine: Any, info: dict[Any, Any]) -> AsyncIterator[AutocommitTx]:
        """A block on one of PostgreSQL's lean connections: rolled back when it fails, and the
        connection given back (closed instead when the failure says it is gone)."""
        assert self._lean_pg is not None
        tx = AutocommitTx(engine, await self._lean_pg.acquire(), info, self._lean_pg)
        failed: BaseException | None = None
        try:
            yield tx
        except BaseException as error:
            failed = error
            with contextlib.suppress(Exception):  # a broken connection is not reused
                await tx.rollback()
            raise
        finally:
            await self._lean_pg.release(tx.driver, failed)

    @asynccontextmanager
    async def read_single(self) -> AsyncIterator[AsyncConnection]:
        """A connection outside any transaction, for one self-contained SELECT (a statement is
        atomic on its own). It saves the BEGIN and COMMIT round trips of ``read()``, which
        matters for lookups made on every request (API key authentication)."""
        if self.is_sqlite:
            conn = await self.read_engine.connect().start()
            try:
                await conn.execution_options(**{NO_BEGIN: True})
                yield conn
            finally:
                await conn.close()
            await _let_others_run()
        else:
            async with self.read_engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            async with asyncio.timeout(2):
                async with self.read_single() as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        for connection in self._lean_connections.values():
            connection.close()
        self._lean_connections.clear()
        if self._lean_pg is not None:
            await self._lean_pg.close()
            await self._lean_engine.dispose()
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
