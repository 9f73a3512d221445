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

import sqlite3
import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Dialect, Engine, Insert
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ClauseElement

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
            found = _Compiled(compiled.string, names, processors, positional, fixed, shape, results)
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

    async def fetch(self, statement: LeanStatement, values: Mapping[str, Any]) -> list[Any]:
        """All rows of a SELECT, as named tuples of its columns' Python values."""
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
