"""Workers' heartbeats: every worker (inside ``clarion serve`` or as ``clarion worker``) writes
``heartbeats`` rows while its job loops run, so that ``/readyz`` can tell a worker that is
stuck or gone from one that has nothing to do."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.health.models import WORKER, Heartbeat

#: Rows of processes not seen for this long are deleted.
FORGET_AFTER = timedelta(days=1)
#: When each worker of this process last wrote its heartbeat (monotonic seconds).
_last_beat: dict[str, float] = {}


def heartbeat_name(role: str, instance_id: str) -> str:
    return f"{role}:{instance_id}"[:120]


async def record(session: AsyncSession, dialect: str, name: str, role: str, now: datetime) -> None:
    """Insert or refresh the heartbeat ``name`` (one statement on either backend)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Heartbeat).values(name=name, role=role, beat_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Heartbeat.name], set_={"role": role, "beat_at": now}
        )
    )


async def beat(ctx: AppContext) -> int:
    """The worker's heartbeat job: a row written every quarter of
    ``CLARION_WORKER_HEARTBEAT_MAX_AGE_SECONDS`` (it runs every second)."""
    every = ctx.settings.worker_heartbeat_max_age_seconds / 4
    last = _last_beat.get(ctx.instance_id)
    if last is not None and time.monotonic() - last < every:
        return 0
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        await record(session, ctx.db.dialect, heartbeat_name(WORKER, ctx.instance_id), WORKER, now)
        await session.execute(delete(Heartbeat).where(Heartbeat.beat_at < now - FORGET_AFTER))
    _last_beat[ctx.instance_id] = time.monotonic()
    return 0
