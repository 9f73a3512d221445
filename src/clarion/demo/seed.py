"""Weeks of realistic history for the demo page (incidents, updates, maintenance)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.components.models import Component
from clarion.events import EventSink
from clarion.incidents import service as incidents
from clarion.incidents.models import Incident
from clarion.status_pages.models import StatusPage

STORIES = [
    (
        "Elevated API error rates",
        ["api"],
        "partial_outage",
        [
            ("investigating", "We are investigating elevated **5xx** error rates on the API."),
            (
                "identified",
                "A faulty deploy of the request router was identified and is being rolled back.",
            ),
            (
                "monitoring",
                "The rollback is complete and error rates are back to normal. We are monitoring.",
            ),
            ("resolved", "This incident is resolved. A post-incident review will follow."),
        ],
    ),
    (
        "Delayed webhook deliveries",
        ["webhooks"],
        "degraded_performance",
        [
            ("investigating", "Webhook deliveries are delayed by up to 10 minutes."),
            ("monitoring", "The queue backlog has drained; deliveries are on time again."),
            ("resolved", "Resolved. No events were lost; delayed events were delivered in order."),
        ],
    ),
    (
        "Dashboard unavailable in Europe",
        ["dashboard", "eu"],
        "full_outage",
        [
            ("investigating", "The dashboard does not load for customers in Europe."),
            ("identified", "A network change at our Frankfurt edge is at fault; reverting it."),
            ("resolved", "The change was reverted and the dashboard is available again."),
        ],
    ),
    (
        "Sign-in failures for SSO users",
        ["auth"],
        "partial_outage",
        [
            ("investigating", "Some customers using SSO cannot sign in. Password sign-in works."),
            (
                "identified",
                "An expired signing certificate was found; a new one is being rolled out.",
            ),
            ("resolved", "SSO sign-in works again for everyone."),
        ],
    ),
    (
        "Slow responses in Asia Pacific",
        ["ap", "api"],
        "degraded_performance",
        [
            ("investigating", "API latency from Singapore is higher than usual."),
            (
                "resolved",
                "Latency is back to normal after an upstream provider fixed a routing issue.",
            ),
        ],
    ),
]


async def seed_history(
    session: AsyncSession,
    events: EventSink,
    page: StatusPage,
    now: datetime,
    days: int = 100,
    *,
    actor: Actor,
) -> int:
    """Publish past incidents and maintenance over the last ``days`` days, and one upcoming
    maintenance window (once; returns how many incidents)."""
    existing = await session.scalar(
        select(func.count()).select_from(Incident).where(Incident.status_page_id == page.id)
    )
    if existing:
        return 0
    components = {
        c.key: c.id for c in (await session.scalars(select(Component))).all() if c.key is not None
    }
    rng = random.Random(20261126)
    count = 0
    day = days
    while day > 1:
        day -= rng.randint(3, 8)
        if day < 1:
            break
        name, keys, status, steps = STORIES[count % len(STORIES)]
        start = (now - timedelta(days=day)).replace(
            hour=rng.randint(1, 20), minute=rng.randint(0, 59), second=0, microsecond=0
        )
        await _publish(
            session,
            events,
            actor,
            page.id,
            name,
            [components[k] for k in keys],
            status,
            steps,
            start,
            rng,
        )
        count += 1
    await _seed_maintenance(session, events, actor, page.id, components, now, days)
    return count


MAINTENANCE = [
    ("Database upgrade", ["api", "dashboard"], "We are upgrading our primary database cluster."),
    ("Network maintenance in Frankfurt", ["eu"], "Our provider is replacing edge routers."),
    ("Sign-in provider migration", ["auth"], "Sign-in moves to a new identity provider."),
]


async def _seed_maintenance(
    session: AsyncSession,
    events: EventSink,
    actor: Actor,
    page_id: str,
    components: dict[str, str],
    now: datetime,
    days: int,
) -> None:
    """Completed windows every few weeks, and one scheduled a few days ahead."""
    from clarion.maintenances import service as maintenances

    day = days - 10
    index = 0
    while day > 5:
        name, keys, message = MAINTENANCE[index % len(MAINTENANCE)]
        start = (now - timedelta(days=day)).replace(hour=2, minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=2)
        view = await maintenances.create_maintenance(
            session,
            events,
            actor=actor,
            page_id=page_id,
            name=name,
            maintenance_status="maintenance_scheduled",
            affected_component_ids=[components[k] for k in keys],
            start_at=start,
            end_at=end,
            message=message + " Short interruptions are possible.",
            notify_subscribers=False,
            automate=False,
            now=start - timedelta(days=5),
        )
        for status, text, at in (
            ("maintenance_in_progress", "Maintenance has started.", start),
            ("maintenance_complete", "Maintenance is complete. Thank you for your patience.", end),
        ):
            await maintenances.add_update(
                session,
                events,
                actor=actor,
                maintenance_id=view.maintenance.id,
                message=text,
                notify_subscribers=False,
                maintenance_status=status,
                component_statuses=None,
                now=at,
            )
        day -= 27
        index += 1
    start = (now + timedelta(days=4)).replace(hour=1, minute=0, second=0, microsecond=0)
    name, keys, message = MAINTENANCE[index % len(MAINTENANCE)]
    await maintenances.create_maintenance(
        session,
        events,
        actor=actor,
        page_id=page_id,
        name=name,
        maintenance_status="maintenance_scheduled",
        affected_component_ids=[components[k] for k in keys],
        start_at=start,
        end_at=start + timedelta(hours=3),
        message=message + " We expect no downtime.",
        notify_subscribers=False,
        automate=True,
        now=now,
    )


async def _publish(
    session: AsyncSession,
    events: EventSink,
    actor: Actor,
    page_id: str,
    name: str,
    component_ids: list[str],
    status: str,
    steps: list[tuple[str, str]],
    start: datetime,
    rng: random.Random,
) -> None:
    first_status, first_message = steps[0]
    view = await incidents.create_incident(
        session,
        events,
        actor=actor,
        page_id=page_id,
        name=name,
        incident_status=first_status,
        message=first_message,
        notify_subscribers=False,
        component_statuses=[incidents.ComponentStatusInput(c, status) for c in component_ids],
        now=start,
    )
    at = start
    for step_status, message in steps[1:]:
        at = at + timedelta(minutes=rng.randint(12, 95))
        await incidents.add_update(
            session,
            events,
            actor=actor,
            incident_id=view.incident.id,
            message=message,
            notify_subscribers=False,
            incident_status=step_status,
            component_statuses=(
                [incidents.ComponentStatusInput(c, "operational") for c in component_ids]
                if step_status == "monitoring"
                else None
            ),
            now=at,
        )
