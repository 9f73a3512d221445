"""A render of the public page reads what it shows, whatever the length of the page's history."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from clarion.components.models import ComponentStatusChange
from clarion.context import AppContext
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.maintenances.models import Maintenance, MaintenanceComponent, MaintenanceUpdate
from clarion.public import html
from clarion.public.routes import page_context
from clarion.public.snapshot import load_snapshot
from clarion.status_pages.models import StatusPage
from tests.audit.ledger import record_seeded
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer, backend

RECENT_DAYS = 90
YEARS_DAYS = 730


@pytest.mark.skipif(backend() != "sqlite", reason="counts SQLite's virtual machine steps")
def test_a_render_does_the_same_work_with_two_years_of_history_as_with_ninety_days(
    server: LiveServer,
) -> None:
    """Two pages show the same last 90 days; one also has 21 months of incidents and
    maintenance windows before them. Rendering the page (snapshot, uptime bars, template)
    makes SQLite do the same work for both: no statement reads what only the history holds
    (an unbounded scan of the older incidents would more than double it)."""
    recent, older = make_page(server, components=4), make_page(server, components=4)
    now = server.clock.now()
    rng = random.Random(4)
    shown = [(now - timedelta(days=RECENT_DAYS) * rng.random(), rng.random()) for _ in range(90)]
    before = [
        (
            now - timedelta(days=RECENT_DAYS + (YEARS_DAYS - RECENT_DAYS) * rng.random()),
            rng.random(),
        )
        for _ in range(650)
    ]
    server.call(lambda ctx: _seed(ctx, recent, shown, now, RECENT_DAYS))
    server.call(lambda ctx: _seed(ctx, older, shown + before, now, YEARS_DAYS))

    def steps(info: PageInfo) -> int:
        return server.call(lambda ctx: _render_steps(ctx, info, now))

    counted = {info.slug: steps(info) for info in (recent, older)}
    assert counted[older.slug] <= 1.1 * counted[recent.slug], counted


async def _render_steps(ctx: AppContext, info: PageInfo, now: datetime) -> int:
    """SQLite's virtual machine steps (in tens) for one uncached render of the page."""
    counted = [0]

    def step() -> int:
        counted[0] += 1
        return 0

    async with ctx.db.read() as session:
        connection = await (await session.connection()).get_raw_connection()
        raw: Any = connection.driver_connection
        raw._conn.set_progress_handler(step, 10)
        try:
            page = await session.get(StatusPage, info.id)
            assert page is not None
            snap = await load_snapshot(session, page, now, history=False)
            body = await html.render_index(
                session, snap, page_context(page, ctx.settings, now, on_domain=False)
            )
        finally:
            raw._conn.set_progress_handler(None, 10)
    assert b"Recently resolved" in body
    return counted[0]


async def _seed(
    ctx: AppContext,
    info: PageInfo,
    incidents: list[tuple[datetime, float]],
    now: datetime,
    days: int,
) -> None:
    """Resolved incidents (an hour each, on one or two components chosen by the given number)
    with their updates and ledger rows, the newest still open; a completed maintenance window
    every two weeks over ``days`` and one upcoming."""
    components = sorted(info.components.values())
    rows: dict[Any, list[dict[str, Any]]] = {
        Incident: [],
        IncidentUpdate: [],
        ComponentStatusChange: [],
        Maintenance: [],
        MaintenanceComponent: [],
        MaintenanceUpdate: [],
    }
    newest = max(at for at, _pick in incidents)
    for at, pick in sorted(incidents):
        incident_id = new_id()
        affected = components[int(pick * 3) : int(pick * 3) + 1 + int(pick * 7) % 2]
        ongoing = at == newest
        ended = at + timedelta(hours=1)
        rows[Incident].append(
            {
                "id": incident_id,
                "status_page_id": info.id,
                "name": f"Errors {pick:.6f}",
                "incident_status": "investigating" if ongoing else "resolved",
                "published_at": at,
                "resolved_at": None if ongoing else ended,
                "update_count": 1 if ongoing else 2,
                "created_at": at,
                "updated_at": at if ongoing else ended,
            }
        )
        for status, moment in [("investigating", at)] + ([] if ongoing else [("resolved", ended)]):
            rows[IncidentUpdate].append(
                {
                    "id": new_id(),
                    "incident_id": incident_id,
                    "message": "Looking into it.",
                    "incident_status": status,
                    "component_statuses": [],
                    "notify_subscribers": False,
                    "published_at": moment,
                }
            )
            for seq, component in enumerate(affected, 1):
                rows[ComponentStatusChange].append(
                    {
                        "id": new_id(),
                        "status_page_id": info.id,
                        "component_id": component,
                        "incident_id": incident_id,
                        "status": "partial_outage" if status == "investigating" else "operational",
                        "occurred_at": moment,
                        "seq": seq,
                    }
                )
    for k in range(-1, days // 14):
        start = now - timedelta(days=14 * k + 1)
        window_id = new_id()
        complete = k >= 0
        rows[Maintenance].append(
            {
                "id": window_id,
                "status_page_id": info.id,
                "name": f"Upgrade {k}",
                "maintenance_status": "maintenance_complete"
                if complete
                else "maintenance_scheduled",
                "start_at": start,
                "end_at": start + timedelta(hours=2),
                "started_at": start if complete else None,
                "completed_at": start + timedelta(hours=2) if complete else None,
                "published_at": start - timedelta(days=2),
                "update_count": 1,
                "created_at": start - timedelta(days=2),
                "updated_at": start,
            }
        )
        rows[MaintenanceComponent].append(
            {"maintenance_id": window_id, "component_id": components[k % 4], "position": 0}
        )
        rows[MaintenanceUpdate].append(
            {
                "id": new_id(),
                "maintenance_id": window_id,
                "message": "We will upgrade.",
                "maintenance_status": "maintenance_scheduled",
                "component_statuses": [],
                "notify_subscribers": False,
                "automated": False,
                "published_at": start - timedelta(days=2),
            }
        )
    async with ctx.db.write() as session:
        for model, values in rows.items():
            await session.execute(insert(model.__table__), values)
        record_seeded(session, info.id, rows)
