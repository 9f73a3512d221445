"""Maintenance history for the demo page: a few completed windows and one coming up."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.models import Component
from clarion.maintenances import service as maintenances
from clarion.maintenances.models import Maintenance
from clarion.maintenances.view import COMPLETE, IN_PROGRESS
from clarion.status_pages.models import StatusPage

#: (days ago, hour of start, hours long, name, component keys, announcement, start, done)
PAST = [
    (
        45,
        2,
        2,
        "Database engine upgrade",
        ["api", "dashboard"],
        "We will upgrade our primary database cluster. Expect brief read-only periods.",
        "The upgrade has started.",
        "The upgrade is complete and everything is running normally.",
    ),
    (
        24,
        4,
        1,
        "Network maintenance in Frankfurt",
        ["eu"],
        "Our network provider will replace core routers in Frankfurt.",
        "Router replacement is under way; traffic is served from a standby path.",
        "The new routers are live. Thank you for your patience.",
    ),
    (
        9,
        3,
        1,
        "Webhook delivery infrastructure migration",
        ["webhooks"],
        "Webhook delivery moves to new infrastructure. Deliveries may be **delayed** by a few "
        "minutes; none will be lost.",
        "The migration has started; deliveries are queued and will be sent in order.",
        "The migration is complete and the queue has drained.",
    ),
]


async def seed_maintenance(session: AsyncSession, page: StatusPage, now: datetime) -> int:
    """Publish the demo windows once (nothing if the page has any); returns how many."""
    existing = await session.scalar(
        select(func.count()).select_from(Maintenance).where(Maintenance.status_page_id == page.id)
    )
    if existing:
        return 0
    components = {
        c.key: c.id for c in (await session.scalars(select(Component))).all() if c.key is not None
    }
    count = 0
    for days, hour, hours, name, keys, announce, started, done in PAST:
        start = (now - timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=hours)
        view = await maintenances.create_maintenance(
            session,
            page_id=page.id,
            name=name,
            maintenance_status="maintenance_scheduled",
            affected_component_ids=[components[k] for k in keys],
            start_at=start,
            end_at=end,
            message=announce,
            notify_subscribers=False,
            automate=False,
            now=start - timedelta(days=5),
        )
        for status, message, at in ((IN_PROGRESS, started, start), (COMPLETE, done, end)):
            await maintenances.add_update(
                session,
                maintenance_id=view.maintenance.id,
                message=message,
                notify_subscribers=False,
                maintenance_status=status,
                component_statuses=None,
                now=at,
            )
        count += 1
    start = (now + timedelta(days=3)).replace(hour=1, minute=0, second=0, microsecond=0)
    await maintenances.create_maintenance(
        session,
        page_id=page.id,
        name="Sign-in service upgrade",
        maintenance_status="maintenance_scheduled",
        affected_component_ids=[components["auth"], components["dashboard"]],
        start_at=start,
        end_at=start + timedelta(hours=2),
        message="We are upgrading the sign-in service. SSO sign-in may be unavailable for up to "
        "five minutes during the window.",
        notify_subscribers=False,
        automate=True,
        now=now,
    )
    return count + 1
