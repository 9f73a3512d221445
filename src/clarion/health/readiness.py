"""``GET /readyz``: whether this process can serve now (for load balancers and orchestrators).

``/healthz`` says the process is alive; ``/readyz`` checks, each within
``CLARION_READY_DEADLINE_SECONDS``:

1. the SQLite file at the database's path is still the one opened at start (not deleted,
   moved or replaced);
2. the database takes a write and commits it (a ``heartbeats`` row): not read-only, not full,
   not held by another process's lock (on PostgreSQL the transaction also takes the lock
   every write takes on each of Clarion's tables, so a table locked by another session fails
   the check instead of hanging requests);
3. the schema is the one this release needs (Alembic's head);
4. the background worker running in this process (if any) wrote its heartbeat within
   ``CLARION_WORKER_HEARTBEAT_MAX_AGE_SECONDS``; with ``?workers=1``, some worker (in any
   process, e.g. ``clarion worker``) did.

What failed is named in the 503 error envelope, one entry per problem, in words that hold no
secret (no address, path or driver message).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.db.faults import unavailable
from clarion.db.migrate import head_revision
from clarion.errors import ErrorDetail
from clarion.health.heartbeat import heartbeat_name, record
from clarion.health.models import READINESS, WORKER, Heartbeat


@dataclass
class Readiness:
    """Each check's outcome (``ok``, ``failed`` or ``not_applicable``) and the problems."""

    checks: dict[str, str] = field(default_factory=dict)
    problems: list[ErrorDetail] = field(default_factory=list)

    def fail(self, check: str, code: str, message: str) -> None:
        self.checks[check] = "failed"
        self.problems.append(ErrorDetail(code, message))


@lru_cache(maxsize=1)
def _head() -> str | None:
    return head_revision()


@lru_cache(maxsize=1)
def _lock_statement() -> str:
    """Every table of Clarion, locked as a write locks it (PostgreSQL)."""
    from clarion.db.models import load_all_models

    tables = sorted(load_all_models().metadata.tables)
    return f"LOCK TABLE {', '.join(tables)}, alembic_version IN ROW EXCLUSIVE MODE"


async def check(ctx: AppContext, *, worker_here: bool, any_worker: bool) -> Readiness:
    result = Readiness()
    deadline = ctx.settings.ready_deadline_seconds
    db = ctx.db
    if db.file is not None:
        problem = db.file.problem()
        if problem is not None:
            result.fail("database_file", "database_file_changed", problem)
            return result  # writing would only say the same again
        result.checks["database_file"] = "ok"
    else:
        result.checks["database_file"] = "not_applicable"
    now = ctx.clock.now()
    # Locks are waited for a little less than the deadline, so that a held lock is named as
    # such ("database_busy") rather than as a write that took too long.
    lock_wait = deadline * 0.8
    try:
        async with asyncio.timeout(deadline), db.write(lock_wait_seconds=lock_wait) as session:
            if db.dialect == "postgresql":
                ms = max(1, round(lock_wait * 1000))
                await session.execute(text(f"SET LOCAL lock_timeout = {ms}"))
                await session.execute(text(f"SET LOCAL statement_timeout = {ms}"))
            schema = [
                str(row[0])
                for row in await session.execute(text("SELECT version_num FROM alembic_version"))
            ]
            if schema != [_head()]:
                return _old_schema(result, schema)  # its tables may not be this release's
            if db.dialect == "postgresql":
                await session.execute(text(_lock_statement()))
            name = heartbeat_name(READINESS, ctx.instance_id)
            await record(session, db.dialect, name, READINESS, now)
            worker_beats: tuple[datetime | None, datetime | None] = (None, None)
            if worker_here or any_worker:
                worker_beats = await _worker_beats(session, ctx.instance_id)
    except TimeoutError:
        result.fail(
            "database_writable",
            "database_not_writable",
            f"The database did not take a write within {deadline:g} s",
        )
        return result
    except Exception as error:
        found = unavailable(error)
        code = found.details[0].code if found is not None else "database_not_writable"
        message = (
            found.details[0].message if found is not None else "A write to the database failed"
        )
        result.fail("database_writable", code, message)
        return result
    result.checks["database_writable"] = result.checks["schema"] = "ok"
    max_age = ctx.settings.worker_heartbeat_max_age_seconds
    own, freshest = worker_beats
    wanted = [
        ("worker", worker_here, own, "worker_heartbeat_stale",
         f"This process's background worker has not reported for over {max_age:g} s"),
        ("workers", any_worker, freshest, "no_worker_heartbeat",
         f"No background worker has reported within {max_age:g} s"),
    ]  # fmt: skip
    for name, asked, beat_at, code, message in wanted:
        if not asked:
            continue
        if beat_at is None or (now - beat_at).total_seconds() > max_age:
            result.fail(name, code, message)
        else:
            result.checks[name] = "ok"
    if not worker_here and not any_worker:
        result.checks["worker"] = "not_applicable"
    return result


def _old_schema(result: Readiness, at: list[str]) -> Readiness:
    result.fail(
        "schema",
        "schema_not_current",
        f"The database schema is at {', '.join(at) or 'nothing'}; this release needs "
        f"{_head()} (run `clarion db upgrade`)",
    )
    return result


async def _worker_beats(
    session: AsyncSession, instance_id: str
) -> tuple[datetime | None, datetime | None]:
    """The heartbeat of this process's worker, and the freshest of any worker."""
    own = await session.scalar(
        select(Heartbeat.beat_at).where(Heartbeat.name == heartbeat_name(WORKER, instance_id))
    )
    freshest = await session.scalar(
        select(func.max(Heartbeat.beat_at)).where(Heartbeat.role == WORKER)
    )
    return own, freshest
