"""The uptime bars follow the availability rules: outages down, degraded up, groups merged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from clarion.context import AppContext
from clarion.incidents import service as incidents
from clarion.public.snapshot import load_snapshot
from clarion.public.uptime import DAYS, UptimeRow, load_uptime
from clarion.status_pages.models import StatusPage
from tests.factories import OPERATOR, make_page
from tests.harness import LiveServer


def test_day_bars_use_the_availability_rules_for_components_and_groups(
    server: LiveServer,
) -> None:
    info = make_page(server, components=4)  # c0, c1 top level; c2, c3 in an aggregated group
    ids = sorted(info.components.items())
    a, b = ids[2][1], ids[3][1]  # the group's members
    group_id = info.groups["Regions"]
    now = server.clock.now()
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    day = today - timedelta(days=2)
    later = now + timedelta(minutes=1)

    async def body(ctx: AppContext) -> dict[str, UptimeRow]:
        async def outage(name: str, cid: str, status: str, start: int, end: int) -> None:
            async with ctx.db.write() as session:
                view = await incidents.create_incident(
                    session,
                    ctx.events,
                    actor=OPERATOR,
                    page_id=info.id,
                    name=name,
                    incident_status="investigating",
                    message="-",
                    notify_subscribers=False,
                    component_statuses=[incidents.ComponentStatusInput(cid, status)],
                    now=day + timedelta(hours=start),
                )
                await incidents.add_update(
                    session,
                    ctx.events,
                    actor=OPERATOR,
                    incident_id=view.incident.id,
                    message="-",
                    notify_subscribers=False,
                    incident_status="resolved",
                    component_statuses=None,
                    now=day + timedelta(hours=end),
                )

        await outage("A is down", a, "full_outage", 6, 12)
        await outage("B is partly down", b, "partial_outage", 9, 15)
        await outage("A is slow", a, "degraded_performance", 20, 22)
        async with ctx.db.read() as session:
            page = await session.scalar(select(StatusPage).where(StatusPage.id == info.id))
            assert page is not None
            snap = await load_snapshot(session, page, later)
            return await load_uptime(session, snap, later)

    rows = server.call(body)
    index = DAYS - 3  # the bar of ``day``
    bar_a, bar_b, bar_g = (rows[k].days[index] for k in (a, b, group_id))
    assert bar_a.day == day.date()
    # Data starts at each component's first ledger row: A at 06:00, B at 09:00.
    assert bar_a.percent == "66.66"  # 6 of 18 covered hours down; degraded counts as up
    assert bar_b.percent == "60.00"  # 6 of 15
    assert bar_g.percent == "50.00"  # down 06:00-15:00 (merged), 9 of 18
    assert bar_a.status == "full_outage"
    assert {i.name for i in bar_a.incidents} == {"A is down", "A is slow"}
    assert bar_b.status == "partial_outage"
    assert {i.name for i in bar_g.incidents} == {"A is down", "B is partly down", "A is slow"}
    # Before the data, no figure; after it, whole days up.
    assert rows[a].days[index - 1].percent is None and rows[a].days[index - 1].status == "nodata"
    assert rows[a].days[index + 1].percent == "100.00"
    assert rows[a].days[index + 1].status == "operational"
    assert rows[a].percent is not None and float(rows[a].percent) < 100
    # Components outside the incidents have no data at all before they were created.
    untouched = ids[0][1]
    assert rows[untouched].days[index].status == "nodata"


def test_an_outage_that_began_before_the_window_counts_inside_it(server: LiveServer) -> None:
    info = make_page(server, components=2, with_group=False)
    cid = sorted(info.components.items())[0][1]
    now = server.clock.now()
    began = now - timedelta(days=DAYS + 5)

    async def body(ctx: AppContext) -> UptimeRow:
        async with ctx.db.write() as session:
            await incidents.create_incident(
                session,
                ctx.events,
                actor=OPERATOR,
                page_id=info.id,
                name="Long outage",
                incident_status="identified",
                message="-",
                notify_subscribers=False,
                component_statuses=[incidents.ComponentStatusInput(cid, "full_outage")],
                now=began,
            )
        async with ctx.db.read() as session:
            page = await session.get(StatusPage, info.id)
            assert page is not None
            snap = await load_snapshot(session, page, now)
            return (await load_uptime(session, snap, now))[cid]

    row = server.call(body)
    assert row.percent == "0.00"
    assert all(bar.status == "full_outage" and bar.percent == "0.00" for bar in row.days)
    assert row.days[0].incidents[0].name == "Long outage"
