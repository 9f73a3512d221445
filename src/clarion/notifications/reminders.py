"""Reminders before scheduled maintenance windows.

A window gets one reminder e-mail/webhook per active subscriber, ``maintenance_reminder_minutes``
before it starts (0 turns reminders off), when it was created with ``notify_subscribers`` and
is still scheduled. ``maintenance_reminders`` records each (window, start) handled, in the same
transaction as the outbox rows, so a window is reminded about exactly once however many
workers run; a window moved to a new start is reminded about again. A worker that was down
through the whole lead time still sends the reminder if the window has not started yet.

No reminder goes out for a window whose subscribers were told of its current start within the
lead time of that start (scheduled ten minutes ahead with a sixty-minute lead: the "scheduled"
notice was the reminder). What they were told is the window's latest update published with
``notify_subscribers`` while it was scheduled, provided nothing changed the window after it: a
``PUT`` moves the start without telling anyone, so a moved window is reminded about.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.events import DomainEvent
from clarion.ids import new_id
from clarion.maintenances.models import Maintenance, MaintenanceComponent, MaintenanceUpdate
from clarion.notifications.models import PENDING, MaintenanceReminder
from clarion.notifications.outbox import REMINDER_KIND, dedupe_key, enqueue, targets
from clarion.notifications.payloads import build_payload
from clarion.subscribers.models import Subscription

SCHEDULED = "maintenance_scheduled"
BATCH = 50


async def queue_reminders(ctx: AppContext) -> int:
    """Queue reminders for windows starting within the lead time; returns windows handled."""
    minutes = ctx.settings.maintenance_reminder_minutes
    if minutes <= 0:
        return 0
    now = ctx.clock.now()
    async with ctx.db.read() as session:
        due = (
            await session.execute(
                select(Maintenance.id, Maintenance.start_at)
                .outerjoin(
                    MaintenanceReminder,
                    (MaintenanceReminder.maintenance_id == Maintenance.id)
                    & (MaintenanceReminder.start_at == Maintenance.start_at),
                )
                .where(
                    Maintenance.maintenance_status == SCHEDULED,
                    Maintenance.notify_subscribers.is_(True),
                    Maintenance.start_at > now,
                    Maintenance.start_at <= now + timedelta(minutes=minutes),
                    MaintenanceReminder.maintenance_id.is_(None),
                )
                .limit(BATCH)
            )
        ).all()
    done = 0
    for maintenance_id, start_at in due:
        try:
            if await _remind(ctx, maintenance_id, start_at):
                done += 1
        except IntegrityError:
            pass  # another worker reminded about this window first
    return done


async def _remind(ctx: AppContext, maintenance_id: str, start_at: datetime) -> bool:
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        maintenance = await session.get(Maintenance, maintenance_id)
        if (
            maintenance is None
            or maintenance.start_at != start_at
            or maintenance.maintenance_status != SCHEDULED
        ):
            return False
        # Claim the window first: a concurrent worker fails here on the primary key.
        session.add(
            MaintenanceReminder(maintenance_id=maintenance_id, start_at=start_at, queued_at=now)
        )
        await session.flush()
        told_at = await _told_at(session, maintenance)
        lead = timedelta(minutes=ctx.settings.maintenance_reminder_minutes)
        if told_at is not None and start_at - told_at <= lead:
            return True  # recorded with no recipients: the notice was the reminder
        components = list(
            (
                await session.scalars(
                    select(MaintenanceComponent.component_id).where(
                        MaintenanceComponent.maintenance_id == maintenance_id
                    )
                )
            ).all()
        )
        subscriptions = (
            await session.execute(
                select(Subscription.id, Subscription.channel, Subscription.component_ids).where(
                    Subscription.status_page_id == maintenance.status_page_id,
                    Subscription.confirmed_at.is_not(None),
                    Subscription.unsubscribed_at.is_(None),
                    Subscription.disabled_at.is_(None),
                )
            )
        ).all()
        chosen = [s for s in subscriptions if targets(s[2] or [], set(components))]
        if not chosen:
            return True
        event = DomainEvent(
            kind="maintenance.scheduled",
            status_page_id=maintenance.status_page_id,
            subject_id=maintenance.id,
            occurred_at=now,
            notify_subscribers=True,
            component_ids=tuple(components),
        )
        payload = dict(await build_payload(session, event, ctx.settings))
        payload["type"] = REMINDER_KIND
        window = f"{maintenance.id}@{int(maintenance.start_at.timestamp())}"
        await enqueue(
            session,
            [
                {
                    "id": new_id(),
                    "subscription_id": sub_id,
                    "channel": channel,
                    "kind": REMINDER_KIND,
                    "subject_id": maintenance.id,
                    "update_id": None,
                    "payload": payload,
                    "dedupe_key": dedupe_key(sub_id, window, REMINDER_KIND),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for sub_id, channel, _components in chosen
            ],
        )
        reminder = await session.get(MaintenanceReminder, (maintenance_id, start_at))
        if reminder is not None:
            reminder.recipients = len(chosen)
    return True


async def _told_at(session: AsyncSession, maintenance: Maintenance) -> datetime | None:
    """When subscribers were last told of the window's current start: its latest update
    published with ``notify_subscribers`` while scheduled. None when there is none, or when the
    window changed after it (``updated_at`` later: a reschedule, or a quieter update since,
    which is taken to be one, so that nobody misses a moved start)."""
    told_at = await session.scalar(
        select(func.max(MaintenanceUpdate.published_at)).where(
            MaintenanceUpdate.maintenance_id == maintenance.id,
            MaintenanceUpdate.notify_subscribers.is_(True),
            MaintenanceUpdate.maintenance_status == SCHEDULED,
        )
    )
    if told_at is None or maintenance.updated_at > told_at:
        return None
    return told_at
