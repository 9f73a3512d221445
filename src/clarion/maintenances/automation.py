"""``automate_maintenance_status``: the worker job that starts and completes windows on time.

Rules (docs/maintenance.md):

- Driven by stored state only. Each run finds windows with automation on that are
  ``scheduled`` with ``start_at`` passed, or ``in_progress`` with ``end_at`` passed, and moves
  each one step forward. A window whose whole span passed while no worker ran therefore goes
  scheduled -> in progress -> complete in one run, with two updates and ledger changes at
  ``start_at`` and ``end_at``.
- Exactly once. Each step runs in its own transaction that first claims the window with a
  conditional ``UPDATE ... WHERE maintenance_status = <expected>`` (after a
  ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers skip rather than
  queue). Only the transaction whose UPDATE touched the row publishes; the others see zero rows.
- Forward only: the job never moves a window to an earlier status.
- A move is recorded at the scheduled moment (``start_at`` / ``end_at``), or just after the
  window's latest update if that is later, so history never runs backwards.
- Automated updates notify subscribers when the window was created with
  ``notify_subscribers: true``; the emitted event carries that flag.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update

from clarion.audit import AUTOMATION
from clarion.context import AppContext
from clarion.maintenances.models import Maintenance
from clarion.maintenances.service import last_published_at, publish_update
from clarion.maintenances.view import COMPLETE, IN_PROGRESS, SCHEDULED

log = logging.getLogger("clarion.maintenances.automation")

BATCH = 100
STARTED_MESSAGE = "Scheduled maintenance is now in progress."
COMPLETED_MESSAGE = "Scheduled maintenance has been completed."
_TICK = timedelta(microseconds=1)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Maintenance.automate.is_(True),
        or_(
            and_(Maintenance.maintenance_status == SCHEDULED, Maintenance.start_at <= now),
            and_(Maintenance.maintenance_status == IN_PROGRESS, Maintenance.end_at <= now),
        ),
    )


async def advance(ctx: AppContext, maintenance_id: str, now: datetime) -> bool:
    """Move one window one step forward if it is due; True if this call published the move.

    1. Lock the due row (``SKIP LOCKED`` on PostgreSQL: a busy row is someone else's).
    2. Claim it: ``UPDATE ... SET maintenance_status = next WHERE id = ? AND
       maintenance_status = expected AND automate``. Zero rows means another worker (or a
       manual update) got there first.
    3. Publish the update, ledger changes and event in the same transaction.
    """
    async with ctx.db.write() as session:
        row = await session.scalar(
            select(Maintenance)
            .where(Maintenance.id == maintenance_id, _due(now))
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if row is None:
            return False
        expected = row.maintenance_status
        if expected == SCHEDULED:
            target, moment, message = IN_PROGRESS, row.start_at, STARTED_MESSAGE
        else:
            target, moment, message = COMPLETE, row.end_at, COMPLETED_MESSAGE
        claimed = await session.execute(
            update(Maintenance)
            .where(
                Maintenance.id == maintenance_id,
                Maintenance.maintenance_status == expected,
                Maintenance.automate.is_(True),
            )
            .values(maintenance_status=target)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return False
        last_at = await last_published_at(session, row)
        at = moment if moment > last_at else last_at + _TICK
        await publish_update(
            session,
            ctx.events,
            row,
            actor=AUTOMATION,
            old_status=expected,
            new_status=target,
            message=message,
            component_statuses=[],
            notify_subscribers=row.notify_subscribers,
            at=at,
            now=now,
            automated=True,
            automation_off=False,
        )
        log.info("maintenance %s moved to %s (at %s)", maintenance_id, target, at.isoformat())
        return True


async def automate_maintenance_status(ctx: AppContext) -> int:
    """The job: move every due window forward as far as it is due; returns moves published."""
    now = ctx.clock.now()
    async with ctx.db.read() as session:
        ids = list(
            await session.scalars(
                select(Maintenance.id)
                .where(_due(now))
                .order_by(Maintenance.start_at, Maintenance.id)
                .limit(BATCH)
            )
        )
    done = 0
    for maintenance_id in ids:
        # At most two steps: a window that was entirely missed starts, then completes.
        for _step in range(2):
            if not await advance(ctx, maintenance_id, now):
                break
            done += 1
    return done
