"""Statements on the driver's own connection, for the hottest write: publishing an incident.

An ORM session costs more than the statements it runs. Publishing an incident runs about ten
short statements (idempotency record, page and components, incident, first update, ledger rows,
subscriptions, record, version bump) and through ``AsyncSession`` each cost several times its
own run time in SQLAlchemy's execution machinery and greenlet switches: about two thirds of the
CPU of a create. ``LeanTx`` runs them on the pooled connection's driver connection (``sqlite3``
or psycopg) instead.

What stays SQLAlchemy's: the statements are Core constructs built from the models, compiled
once per dialect (``LeanStatement``), with the column types' own bind processors (the UTC
timestamps, JSON), so rows written here are the rows the ORM writes and reads back; the pool,
its checkout ping and its reset; and SQLite's write discipline (the process's write lock, the
writers' turn across processes, ``BEGIN IMMEDIATE`` polled without blocking the loop).

Rows come back as named tuples, through the column types' result processors. SQLAlchemy's
events do not see these statements: what listens to
``after_cursor_execute`` for writes must also register with ``after_execute`` here.
"""

from __future__ import annotations

import re
import sqlite3
import weakref
from collections import namedtuple
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Dialect, Engine, Insert, Select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ClauseElement

_T = TypeVar("_T")

#: What a unique or foreign key violation raises, through SQLAlchemy or from a driver.
INTEGRITY_ERRORS: tuple[type[BaseException], ...] = (
    SAIntegrityError,
    sqlite3.IntegrityError,
    psycopg.IntegrityError,
)


#: ``hook(connection_info, sql)`` after each lean statement, per engine (``after_execute``).
Hook = Callable[[dict[Any, Any], str], None]
_hooks: weakref.WeakKeyDictionary[Engine, list[Hook]] = weakref.WeakKeyDictionary()


def after_execute(engine: Engine, hook: Hook) -> None:
    """Call ``hook`` with the pooled connection's ``info`` and the SQL after each lean
    statement on ``engine``'s connections (as ``after_cursor_execute`` does for the others)."""
    _hooks.setdefault(engine, []).append(hook)


#: ``hook(connection_info)`` when a connection that is not pooled ends a transaction.
Released = Callable[[dict[Any, Any]], None]
_released: weakref.WeakKeyDictionary[Engine, list[Released]] = weakref.WeakKeyDictionary()


def on_release(engine: Engine, hook: Released) -> None:
    """Call ``hook`` with a lean connection's ``info`` when its transaction has ended: what the
    pool's ``checkin`` event is for pooled connections, for the connections that
    ``Database`` keeps outside the pool (SQLite's)."""
    _released.setdefault(engine, []).append(hook)


def released(engine: Engine, info: dict[Any, Any]) -> None:
    for hook in _released.get(engine, []):
        hook(info)


def forget(engine: Engine, hook: Hook | Released) -> None:
    """Undo ``after_execute`` or ``on_release``."""
    for registry in (_hooks, _released):
        hooks: list[Any] = registry.get(engine, [])
        if hook in hooks:
            hooks.remove(hook)


def hooks_of(engine: Engine) -> list[Hook]:
    return _hooks.get(engine, [])


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool
    #: the statement's own values (its literals), by bind name
    fixed: dict[str, Any]
    #: a SELECT's rows: a named tuple of its columns, and the columns' result processors
    row: Any = None
    results: tuple[Callable[[Any], Any] | None, ...] = ()
    #: a SELECT that locks rows (``FOR UPDATE``/``FOR SHARE``): it needs a transaction
    locks: bool = False
    #: a plain one-row INSERT on PostgreSQL, as ``AutocommitTx`` sends several together: the
    #: text up to its ``VALUES``, its row of placeholders (``%s``), the bind names in order
    insert: tuple[str, str, tuple[str, ...]] | None = None

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        make = self.row._make
        if not any(self.results):
            return [make(r) for r in raw]
        return [
            make(v if p is None else p(v) for v, p in zip(r, self.results, strict=True))
            for r in raw
        ]

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        if self.fixed:
            values = {**self.fixed, **values}
        converted = [
            values[name] if process is None else process(values[name])
            for name, process in zip(self.names, self.processors, strict=True)
        ]
        if self.positional:
            return converted
        return dict(zip(self.names, converted, strict=True))


def _row_type(names: list[str]) -> Any:
    """A named tuple type for a SELECT's rows (attribute access, like SQLAlchemy's rows)."""
    return namedtuple("LeanRow", names, rename=True)


class LeanStatement:
    """A Core statement compiled once per dialect for the driver. An ``Insert`` is compiled
    for exactly ``columns``: every row must give each of them (no defaults are applied)."""

    def __init__(self, statement: ClauseElement, columns: Sequence[str] | None = None) -> None:
        if isinstance(statement, Insert) and columns is None:
            raise ValueError("an INSERT needs its columns")
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.columns)
            positional = bool(compiled.positional)
            names = tuple(compiled.positiontup if positional else compiled.binds)
            processors = tuple(
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            )
            fixed = {
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if not bind.required and name in names
            }
            shape: Any = None
            results: tuple[Callable[[Any], Any] | None, ...] = ()
            selected = getattr(self.statement, "selected_columns", None)
            if selected is not None:
                columns = list(selected)
                shape = _row_type([c.key for c in columns])
                results = tuple(
                    c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
                )
            locks = isinstance(self.statement, Select) and bool(
                self.statement._for_update_arg is not None
            )
            insert = None
            if isinstance(self.statement, Insert) and dialect.name == "postgresql":
                insert = _insert_parts(compiled.string)
            found = _Compiled(
                compiled.string,
                names,
                processors,
                positional,
                fixed,
                shape,
                results,
                locks,
                insert,
            )
            self._by_dialect[dialect.name] = found
        return found


class LeanTx:
    """One open transaction on a driver connection (see the module)."""

    def __init__(self, engine: Engine, driver: Any, info: dict[Any, Any]) -> None:
        self.dialect = engine.dialect
        self.is_sqlite = self.dialect.name == "sqlite"
        #: ``sqlite3.Connection`` or ``psycopg.AsyncConnection``
        self.driver = driver
        self._info = info
        self._hooks = hooks_of(engine)
        #: rows read ahead (``read_ahead``), by statement and values
        self._ahead: dict[tuple[int, tuple[tuple[str, Any], ...]], Any] | None = None

    @classmethod
    async def of_session(cls, session: AsyncSession) -> LeanTx:
        """The transaction ``session`` is in, for statements run beside its own."""
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if connection.dialect.name == "sqlite":
            driver = driver._conn  # type: ignore[union-attr]  # the InlineConnection's sqlite3
        return cls(connection.engine.sync_engine, driver, raw.info)

    def _ran(self, sql: str) -> None:
        for hook in self._hooks:
            hook(self._info, sql)

    async def fetch_together(
        self, reads: Sequence[tuple[LeanStatement, Mapping[str, Any]]]
    ) -> list[list[Any]]:
        """The rows of several SELECTs (each ``fetch``), read one after another; on PostgreSQL
        outside a transaction they go in one round trip (``AutocommitTx``)."""
        return [await self.fetch(statement, values) for statement, values in reads]

    def read_ahead(self, statement: LeanStatement, values: Mapping[str, Any], rows: Any) -> None:
        """Keep ``rows`` read for ``statement`` with ``values``: the next ``fetch`` of exactly
        that returns them instead of reading again (once)."""
        if self._ahead is None:
            self._ahead = {}
        self._ahead[(id(statement), tuple(sorted(values.items())))] = rows

    async def fetch(self, statement: LeanStatement, values: Mapping[str, Any]) -> list[Any]:
        """All rows of a SELECT, as named tuples of its columns' Python values."""
        if self._ahead:
            found = self._ahead.pop((id(statement), tuple(sorted(values.items()))), None)
            if found is not None:
                return list(found)
        c = statement.compiled(self.dialect)
        if self.is_sqlite:
            raw = self.driver.execute(c.sql, c.params(values)).fetchall()
        else:
            cursor = await self.driver.execute(c.sql, c.params(values))
            raw = await cursor.fetchall()
        self._ran(c.sql)
        return c.rows(raw)

    async def first(self, statement: LeanStatement, values: Mapping[str, Any]) -> Any:
        """The first row of a SELECT, or None."""
        rows = await self.fetch(statement, values)
        return rows[0] if rows else None

    async def run(self, statement: LeanStatement, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute ``statement`` once per row (an INSERT of several rows is one call)."""
        if not rows:
            return
        c = statement.compiled(self.dialect)
        if self.is_sqlite:
            if len(rows) == 1:
                self.driver.execute(c.sql, c.params(rows[0]))
            else:
                self.driver.executemany(c.sql, [c.params(r) for r in rows])
        elif len(rows) == 1:
            await self.driver.execute(c.sql, c.params(rows[0]))
        else:
            async with self.driver.cursor() as cursor:
                await cursor.executemany(c.sql, [c.params(r) for r in rows])
        self._ran(c.sql)


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _insert_parts(sql: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``("INSERT INTO t (a, b) VALUES ", "(%s, %s)", ("a", "b"))`` for a plain one-row
    INSERT in named (pyformat) placeholders; None for anything else (RETURNING, ON CONFLICT,
    a SELECT), which ``AutocommitTx`` then sends on its own."""
    head, found, row = sql.partition(" VALUES ")
    if not found or not head.startswith("INSERT INTO ") or " VALUES " in row:
        return None
    if not (row.startswith("(") and row.endswith(")")):
        return None
    names = tuple(_PLACEHOLDER.findall(row))
    return head + found, _PLACEHOLDER.sub("%s", row), names


#: The text of a batch of inserts, by its shape: ``(id(compiled), rows)`` per statement (the
#: compiled statements live as long as their ``LeanStatement``, kept here as well).
_together_sql: dict[tuple[tuple[int, int], ...], tuple[str, list[_Compiled]]] = {}


def _together(
    pending: Sequence[tuple[_Compiled, Sequence[Mapping[str, Any]]]],
) -> tuple[str, list[Any]]:
    """One statement for several INSERTs: each a data-modifying ``WITH`` but the last, each
    with all its rows in one ``VALUES``; and its positional parameters."""
    shape = tuple((id(c), len(rows)) for c, rows in pending)
    found = _together_sql.get(shape)
    if found is None:
        parts = []
        for c, rows in pending:
            assert c.insert is not None
            head, row, _names = c.insert
            parts.append(head + ", ".join([row] * len(rows)))
        *first, last = parts
        sql = last
        if first:
            ctes = ", ".join(f"w{index} AS ({part})" for index, part in enumerate(first))
            sql = f"WITH {ctes} {last}"
        found = _together_sql[shape] = (sql, [c for c, _rows in pending])
    params: list[Any] = []
    for c, rows in pending:
        assert c.insert is not None
        names = c.insert[2]
        for values in rows:
            converted = c.params(values)
            assert isinstance(converted, dict)
            params.extend([converted[name] for name in names])
    return found[0], params


def dropped(error: BaseException, driver: Any) -> bool:
    """Whether ``error`` says the connection is gone: broken or closed, or the server ended
    the session (SQLSTATE class 57P: an administrator's or a shutdown's termination, which
    arrives as an error before the connection is seen to be closed)."""
    if driver.broken or driver.closed:
        return True
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate.startswith("57P")


class AutocommitTx(LeanTx):
    """A lean transaction on a PostgreSQL connection that stays in autocommit
    (``clarion.db.lean_pg``), sending as few statements as it can.

    - A read before the first write is a self-contained statement. Nothing changes for it: in
      a READ COMMITTED transaction each statement sees the latest commit anyway, and a plain
      SELECT takes no lock that would outlive it. One that locks rows (``FOR UPDATE``) opens a
      transaction first. When the connection turns out dropped, a self-contained read runs
      again once, on a new connection.
    - INSERTs are held back and sent when the block ends, together, as one statement (each a
      data-modifying ``WITH`` but the last, each with all its rows in one ``VALUES``). One
      statement is atomic on its own: a unique or foreign key violation in any of them writes
      none, and deferred triggers run at its implicit commit. Foreign keys between them hold,
      as PostgreSQL checks them once the whole statement has run.
    - A read after a write, or a write that is not a plain INSERT, opens a transaction
      (``BEGIN``) and sends what is held back first, so the block still sees its own writes,
      and its end commits.

    ``after_execute`` hooks see each INSERT's own text, once the statement that carried it
    has run."""

    def __init__(self, engine: Engine, driver: Any, info: dict[Any, Any], connections: Any) -> None:
        super().__init__(engine, driver, info)
        #: ``lean_pg.LeanConnections``, for replacing a dropped connection
        self._connections = connections
        self._pending: list[tuple[_Compiled, Sequence[Mapping[str, Any]]]] = []
        self._in_transaction = False

    @property
    def holds_writes(self) -> bool:
        return bool(self._pending)

    async def fetch(self, statement: LeanStatement, values: Mapping[str, Any]) -> list[Any]:
        if self._pending or statement.compiled(self.dialect).locks:
            await self._begin()
        if self._in_transaction:
            return await super().fetch(statement, values)
        return await self._on_live_connection(partial(LeanTx.fetch, self, statement, values))

    async def fetch_together(
        self, reads: Sequence[tuple[LeanStatement, Mapping[str, Any]]]
    ) -> list[list[Any]]:
        plain = not (self._pending or self._in_transaction or self._ahead)
        if not plain or any(s.compiled(self.dialect).locks for s, _values in reads):
            return await super().fetch_together(reads)
        return await self._on_live_connection(partial(self._pipelined, reads))

    async def _on_live_connection(self, read: Callable[[], Awaitable[_T]]) -> _T:
        """``read()``, made once more on a new connection when this one turns out dropped
        (only for self-contained reads: nothing of theirs can have taken effect)."""
        try:
            return await read()
        except psycopg.OperationalError as error:
            if not dropped(error, self.driver):
                raise
        self.driver = await self._connections.replace(self.driver)
        return await read()

    async def _pipelined(
        self, reads: Sequence[tuple[LeanStatement, Mapping[str, Any]]]
    ) -> list[list[Any]]:
        compiled = [(statement.compiled(self.dialect), values) for statement, values in reads]
        cursors = []
        async with self.driver.pipeline():
            for c, values in compiled:
                cursor = self.driver.cursor()
                await cursor.execute(c.sql, c.params(values))
                cursors.append(cursor)
        found = []
        for (c, _values), cursor in zip(compiled, cursors, strict=True):
            found.append(c.rows(await cursor.fetchall()))
            self._ran(c.sql)
        return found

    async def run(self, statement: LeanStatement, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        c = statement.compiled(self.dialect)
        if c.insert is None:
            await self._begin()
            await super().run(statement, rows)
            return
        self._pending.append((c, list(rows)))

    async def _begin(self) -> None:
        if not self._in_transaction:
            await self.driver.execute("BEGIN", prepare=False)
            self._in_transaction = True
        await self._send()

    async def _send(self) -> None:
        held = self._take_held()
        if held is not None:
            sql, params, texts = held
            await self.driver.execute(sql, params)
            self.ran(texts)

    def _take_held(self) -> tuple[str, list[Any], list[str]] | None:
        """What is held back, as one statement, its parameters and the texts of its INSERTs
        (None when nothing is); it is no longer held."""
        if not self._pending:
            return None
        pending, self._pending = self._pending, []
        sql, params = _together(pending)
        return sql, params, [c.sql for c, _rows in pending]

    async def finish(self) -> tuple[str, list[Any], list[str]] | None:
        """End the block: commit the transaction if one was opened (sending what is held back
        first); else what is held back as one statement, ``(sql, parameters, the texts of
        its INSERTs)``, for the caller to send (then to report with ``ran``), or None."""
        if self._in_transaction:
            await self.commit()
            return None
        return self._take_held()

    def ran(self, texts: Sequence[str]) -> None:
        """Tell the ``after_execute`` hooks about statements sent for this block elsewhere."""
        for sql in texts:
            self._ran(sql)

    async def commit(self) -> None:
        """Send what is held back; commit the transaction if one was opened."""
        await self._send()
        if self._in_transaction:
            self._in_transaction = False
            await self.driver.execute("COMMIT", prepare=False)

    async def rollback(self) -> None:
        """Forget what is held back; roll back the transaction if one was opened."""
        self._pending.clear()
        if self._in_transaction:
            self._in_transaction = False
            await self.driver.execute("ROLLBACK", prepare=False)
