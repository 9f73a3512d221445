"""What the uptime bars keep between renders (``UptimeMemo``) never changes what they show."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.models import ComponentStatusChange
from clarion.context import AppContext
from clarion.events import EventSink
from clarion.ids import new_id
from clarion.incidents import retrospective
from clarion.incidents import service as incidents
from clarion.incidents.models import Incident
from clarion.maintenances import service as maintenances
from clarion.maintenances.models import Maintenance
from clarion.public import html
from clarion.public.snapshot import load_snapshot
from clarion.public.uptime import UptimeMemo, UptimeRow, load_uptime
from clarion.status_pages.models import StatusPage
from clarion.status_pages.versions import touch_page
from tests.factories import OPERATOR, PageInfo, make_page
from tests.harness import LiveServer

IMPACTS = ("degraded_performance", "partial_outage", "full_outage")
STEPS = 60


def test_bars_kept_between_renders_equal_bars_worked_out_afresh(server: LiveServer) -> None:
    """Random writes of every kind (incidents opened, updated, resolved, renamed, published
    retrospectively; maintenance started, completed, deleted) at moments that move forward
    across several days: after each, the bars with the memo equal those without, at the
    moment of the write and a while later."""
    info = make_page(server, components=5)
    rng = random.Random(7)
    memo = UptimeMemo()
    components = sorted(info.components.values())
    clock = [server.clock.now()]

    async def check(ctx: AppContext, at: datetime) -> None:
        async with ctx.db.read() as session:
            page = await session.get(StatusPage, info.id)
            assert page is not None
            snap = await load_snapshot(session, page, at, history=False)
            kept = await load_uptime(session, snap, at, memo=memo)
            fresh = await load_uptime(session, snap, at)
        assert kept == fresh
        assert _markup(kept) == _markup(fresh)

    async def body(ctx: AppContext) -> None:
        for _ in range(STEPS):
            clock[0] += timedelta(minutes=rng.choice([1, 20, 90, 300, 700]))
            await _write(ctx, info, rng, components, clock[0])
            await check(ctx, clock[0])
            await check(ctx, clock[0] + timedelta(minutes=rng.randint(1, 600)))

    server.call(body, timeout=300)


def _markup(rows: dict[str, UptimeRow]) -> dict[str, str]:
    return {key: str(html._bar_items(row)) for key, row in rows.items()}


async def _write(
    ctx: AppContext, info: PageInfo, rng: random.Random, components: list[str], now: datetime
) -> None:
    """One random write at ``now``."""
    async with ctx.db.write() as session:
        open_ids = list(
            (
                await session.scalars(
                    select(Incident.id).where(
                        Incident.status_page_id == info.id, Incident.incident_status != "resolved"
                    )
                )
            ).all()
        )
        windows = list(
            (
                await session.scalars(
                    select(Maintenance).where(Maintenance.status_page_id == info.id)
                )
            ).all()
        )
        choice = rng.random()
        affected = rng.sample(components, rng.randint(1, 2))
        impact = [incidents.ComponentStatusInput(c, rng.choice(IMPACTS)) for c in affected]
        if choice < 0.25 or not open_ids:
            await _open_incident(session, ctx.events, info, impact, now)
        elif choice < 0.5:
            status = rng.choice(["identified", "monitoring", "resolved"])
            await incidents.add_update(
                session,
                ctx.events,
                actor=OPERATOR,
                incident_id=rng.choice(open_ids),
                message="-",
                notify_subscribers=False,
                incident_status=status,
                component_statuses=None if status == "resolved" else rng.choice([None, impact]),
                now=now,
            )
        elif choice < 0.6:
            await incidents.rename_incident(
                session, rng.choice(open_ids), "Renamed", now, actor=OPERATOR
            )
        elif choice < 0.7:
            # An incident that ended before today's ledger rows were written.
            await retrospective.create_retrospective_incident(
                session,
                actor=OPERATOR,
                page_id=info.id,
                name="Told afterwards",
                updates=[
                    retrospective.RetrospectiveUpdateInput(
                        "investigating", "-", now - timedelta(days=2), impact
                    ),
                    retrospective.RetrospectiveUpdateInput(
                        "resolved", "-", now - timedelta(days=1, hours=20)
                    ),
                ],
                now=now,
            )
        elif choice < 0.8 or not windows:
            status = rng.choice(["maintenance_in_progress", "maintenance_complete"])
            started = now - timedelta(hours=rng.randint(1, 30))
            await _window(session, ctx.events, info, status, affected, started, now)
        elif choice < 0.9:
            window = rng.choice(windows)
            if window.maintenance_status == "maintenance_complete":
                await maintenances.delete_maintenance(session, window.id, now, actor=OPERATOR)
            else:
                await maintenances.add_update(
                    session,
                    ctx.events,
                    actor=OPERATOR,
                    maintenance_id=window.id,
                    message="-",
                    notify_subscribers=False,
                    maintenance_status="maintenance_complete",
                    component_statuses=None,
                    now=now,
                )
        else:
            # Written around the services, with the version moved as every write does.
            await session.execute(
                insert(ComponentStatusChange).values(
                    id=new_id(),
                    status_page_id=info.id,
                    component_id=affected[0],
                    incident_id=rng.choice(open_ids),
                    status=rng.choice(IMPACTS),
                    occurred_at=now - timedelta(days=rng.randint(0, 3)),
                    seq=9,
                )
            )
            touch_page(session, info.id, now)


def test_the_content_version_moves_with_every_write_to_the_page(
    server: LiveServer,
) -> None:
    info = make_page(server, components=2, with_group=False)
    component = sorted(info.components.values())[0]
    now = server.clock.now()

    async def version(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            found = await session.scalar(
                select(StatusPage.content_version).where(StatusPage.id == info.id)
            )
            assert found is not None
            return found

    async def body(ctx: AppContext) -> list[int]:
        seen = [await version(ctx)]
        async with ctx.db.write() as session:
            down = [incidents.ComponentStatusInput(component, "full_outage")]
            incident_id = await _open_incident(session, ctx.events, info, down, now)
        seen.append(await version(ctx))
        async with ctx.db.write() as session:
            await incidents.rename_incident(session, incident_id, "Still down", now, actor=OPERATOR)
        seen.append(await version(ctx))
        async with ctx.db.write() as session:
            started = now - timedelta(hours=2)
            window_id = await _window(
                session, ctx.events, info, "maintenance_complete", [component], started, now
            )
        seen.append(await version(ctx))
        async with ctx.db.write() as session:  # its ledger rows go with it (a cascade)
            await maintenances.delete_maintenance(session, window_id, now, actor=OPERATOR)
        seen.append(await version(ctx))
        return seen

    created, opened, renamed, scheduled, deleted = server.call(body)
    assert created < opened < renamed < scheduled < deleted


async def _open_incident(
    session: AsyncSession,
    events: EventSink,
    info: PageInfo,
    statuses: list[incidents.ComponentStatusInput],
    now: datetime,
) -> str:
    view = await incidents.create_incident(
        session,
        events,
        actor=OPERATOR,
        page_id=info.id,
        name=f"Incident at {now:%d %H:%M}",
        incident_status="investigating",
        message="-",
        notify_subscribers=False,
        component_statuses=statuses,
        now=now,
    )
    return view.incident.id


async def _window(
    session: AsyncSession,
    events: EventSink,
    info: PageInfo,
    status: str,
    affected: list[str],
    started: datetime,
    now: datetime,
) -> str:
    view = await maintenances.create_maintenance(
        session,
        events,
        actor=OPERATOR,
        page_id=info.id,
        name="Upgrade",
        maintenance_status=status,
        affected_component_ids=affected,
        start_at=started,
        end_at=started + timedelta(hours=1),
        message="-",
        notify_subscribers=False,
        automate=False,
        now=now,
    )
    return view.maintenance.id
