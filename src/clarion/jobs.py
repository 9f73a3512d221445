"""The background jobs, in one list (``clarion.worker`` runs them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from clarion.context import AppContext

#: ``run(ctx)`` does one round of work and returns how much it did (0: nothing was waiting).
JobFunction = Callable[[AppContext], Awaitable[int]]
#: ``forever(ctx, stop)`` works until ``stop`` is set (a job that paces itself).
ForeverFunction = Callable[[AppContext, asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFunction
    interval_seconds: float
    #: When set, the worker runs this instead of calling ``run`` every ``interval_seconds``.
    forever: ForeverFunction | None = None


async def purge_idempotency_records(ctx: AppContext) -> int:
    from clarion.http.idempotency import purge_expired

    async with ctx.db.write() as session:
        await purge_expired(session, ctx)
    return 0


async def fold_page_versions(ctx: AppContext) -> int:
    from clarion.status_pages.versions import fold_versions

    async with ctx.db.write() as session:
        await fold_versions(session)
    return 0


def all_jobs() -> list[Job]:
    from clarion.health.heartbeat import beat
    from clarion.maintenances.automation import automate_maintenance_status
    from clarion.notifications import delivery
    from clarion.notifications.outbox import deliver_due
    from clarion.notifications.reminders import queue_reminders

    return [
        Job("worker_heartbeat", beat, 1.0),
        Job("purge_idempotency_records", purge_idempotency_records, 3600),
        Job("fold_page_versions", fold_page_versions, 5.0),
        Job("automate_maintenance_status", automate_maintenance_status, 1.0),
        Job("deliver_outbox", deliver_due, 1.0, forever=delivery.run),
        Job("maintenance_reminders", queue_reminders, 30.0),
    ]
