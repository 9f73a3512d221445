"""The list of background jobs. Each subsystem adds its registration here."""

from __future__ import annotations

from clarion.context import AppContext

_loaded = False


async def purge_idempotency_records(ctx: AppContext) -> int:
    from clarion.http.idempotency import purge_expired

    async with ctx.db.write() as session:
        await purge_expired(session, ctx)
    return 0


def load_jobs() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from clarion.worker import register_job

    register_job("purge_idempotency_records", purge_idempotency_records, 3600)

    from clarion.maintenances.automation import automate_maintenance_status

    register_job("automate_maintenance_status", automate_maintenance_status, 1.0)

    from clarion.notifications.outbox import deliver_due
    from clarion.notifications.reminders import queue_reminders

    register_job("deliver_outbox", deliver_due, 1.0)
    register_job("maintenance_reminders", queue_reminders, 30.0)
