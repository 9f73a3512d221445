"""The console's lists of incidents and maintenance windows (read-only: ongoing or open ones
first, then the latest), each linking to its public permalink."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Executable, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from clarion.console.sessions import Visit
from clarion.console.web import ConsoleRoute, context_of, page, signed_in
from clarion.incidents.models import UNRESOLVED, Incident
from clarion.maintenances.models import UNFINISHED, Maintenance
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
RECENT = 50


@dataclass(frozen=True)
class Row:
    """One incident or window in a list."""

    id: str
    name: str
    status: str
    page_name: str
    #: When it was published (incidents) or when it starts (windows).
    at: datetime
    ends_at: datetime | None
    permalink: str


async def _rows(
    session: AsyncSession, settings: Settings, kind: str, queries: Sequence[Executable]
) -> list[list[Row]]:
    """The rows each query finds (columns: id, name, status, at, ends_at, status_page_id),
    linked to ``<page>/<kind>/<id>``."""
    pages = {p.id: p for p in await session.scalars(select(StatusPage))}
    found = []
    for query in queries:
        rows = []
        for r in (await session.execute(query)).all():
            owner = pages[r.status_page_id]
            url = f"{public_url(owner, settings)}/{kind}/{r.id}"
            rows.append(Row(r.id, r.name, r.status, owner.name, r.at, r.ends_at, url))
        found.append(rows)
    return found


@router.get("/admin/incidents")
async def incidents(request: Request, visit: Annotated[Visit, Depends(signed_in())]) -> Response:
    ctx = context_of(request)
    columns = select(
        Incident.id,
        Incident.name,
        Incident.incident_status.label("status"),
        Incident.published_at.label("at"),
        literal(None).label("ends_at"),
        Incident.status_page_id,
    ).order_by(Incident.published_at.desc(), Incident.id.desc())
    async with ctx.db.read() as session:
        ongoing, latest = await _rows(
            session,
            ctx.settings,
            "incidents",
            [columns.where(UNRESOLVED), columns.where(~UNRESOLVED).limit(RECENT)],
        )
    return await page(
        request,
        "incidents.html",
        visit,
        title="Incidents",
        active="incidents",
        ongoing=ongoing,
        latest=latest,
    )


@router.get("/admin/maintenance")
async def maintenance(request: Request, visit: Annotated[Visit, Depends(signed_in())]) -> Response:
    ctx = context_of(request)
    columns = select(
        Maintenance.id,
        Maintenance.name,
        Maintenance.maintenance_status.label("status"),
        Maintenance.start_at.label("at"),
        Maintenance.end_at.label("ends_at"),
        Maintenance.status_page_id,
    )
    async with ctx.db.read() as session:
        open_rows, done = await _rows(
            session,
            ctx.settings,
            "maintenance",
            [
                columns.where(UNFINISHED).order_by(Maintenance.start_at, Maintenance.id),
                columns.where(~UNFINISHED)
                .order_by(Maintenance.start_at.desc(), Maintenance.id.desc())
                .limit(RECENT),
            ],
        )
    return await page(
        request,
        "maintenance.html",
        visit,
        title="Maintenance",
        active="maintenance",
        open=open_rows,
        done=done,
    )
