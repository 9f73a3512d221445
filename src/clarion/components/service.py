"""Components: create, rename, archive; and a component's availability on a page.

Archiving rules (docs/components.md): a component is archived, never deleted, so history keeps
it (past incidents still show its impacts). Archiving is refused with 409 while

- a page structure still places it (take it off the page first), or
- an unresolved incident has given it a status, or
- a maintenance window that is not complete lists it.

Archived components are invisible to the components API (404 on show, gone from the list).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.components.availability import LedgerPoint, data_available_since, floor_percent
from clarion.components.downtime import Downtime
from clarion.components.models import Component, ComponentDowntime, ComponentStatusChange
from clarion.db.engine import Database
from clarion.errors import Conflict, NotFound
from clarion.ids import new_id
from clarion.status_pages.models import StatusPage, StructureItem
from clarion.status_pages.versions import touch_page

API_MANAGED_BY = "dashboard"


def _clean_description(description: str | None) -> str | None:
    if description is None or not description.strip():
        return None
    return description


async def list_components(session: AsyncSession) -> list[Component]:
    """Every component that is not archived, by name then id."""
    rows = await session.scalars(
        select(Component)
        .where(Component.archived_at.is_(None))
        .order_by(Component.name, Component.id)
    )
    return list(rows.all())


async def get_component(session: AsyncSession, component_id: str) -> Component:
    """The component; NotFound when unknown or archived."""
    component = await session.get(Component, component_id)
    if component is None or component.archived_at is not None:
        raise NotFound("No status page component with this id")
    return component


async def create_component(
    session: AsyncSession, *, actor: Actor, name: str, description: str | None, now: datetime
) -> Component:
    """A new component, on no page yet (pages place components through their structure)."""
    component = Component(
        id=new_id(),
        key=None,
        name=name,
        description=_clean_description(description),
        managed_by=API_MANAGED_BY,
        archived_at=None,
        created_at=now,
        updated_at=now,
    )
    session.add(component)
    audit.record(
        session,
        actor,
        "component.create",
        object_type="component",
        object_id=component.id,
        at=now,
        summary=f"created component {name!r}",
        detail={"name": name, "description": component.description},
    )
    await session.flush()
    return component


async def _pages_placing(session: AsyncSession, component_id: str) -> list[str]:
    rows = await session.scalars(
        select(StructureItem.status_page_id)
        .where(StructureItem.component_id == component_id)
        .distinct()
    )
    return list(rows.all())


async def update_component(
    session: AsyncSession,
    component_id: str,
    *,
    actor: Actor,
    name: str,
    description: str | None,
    now: datetime,
) -> Component:
    """Replace the name and description; pages showing the component are re-rendered."""
    component = await get_component(session, component_id)
    audit.record(
        session,
        actor,
        "component.update",
        object_type="component",
        object_id=component.id,
        at=now,
        summary=f"updated component {name!r}",
        detail={
            "name": name,
            "description": _clean_description(description),
            "previous": {"name": component.name, "description": component.description},
        },
    )
    component.name = name
    component.description = _clean_description(description)
    component.updated_at = now
    await session.flush()
    for page_id in await _pages_placing(session, component.id):
        touch_page(session, page_id, now)
    return component


async def archive_component(
    session: AsyncSession, component_id: str, now: datetime, *, actor: Actor
) -> None:
    """Archive the component, or raise Conflict when something still refers to it."""
    from clarion.incidents.models import Incident, IncidentUpdate
    from clarion.maintenances.models import Maintenance, MaintenanceComponent

    component = await get_component(session, component_id)
    if await _pages_placing(session, component.id):
        raise Conflict(
            "This component is still placed on a status page; remove it from the page "
            "structure first",
            code="component_in_use",
        )
    # Any status listed by an update counts, as in the incident list's component filter
    # (every impact comes from such a listing).
    open_incident = await session.scalar(
        select(Incident.id)
        .join(IncidentUpdate, IncidentUpdate.incident_id == Incident.id)
        .where(
            Incident.incident_status != "resolved",
            cast(IncidentUpdate.component_statuses, Text).contains(
                f'"{component.id}"', autoescape=True
            ),
        )
        .limit(1)
    )
    if open_incident is not None:
        raise Conflict(
            "An unresolved incident refers to this component; resolve it first",
            code="component_in_use",
        )
    open_maintenance = await session.scalar(
        select(Maintenance.id)
        .join(MaintenanceComponent, MaintenanceComponent.maintenance_id == Maintenance.id)
        .where(
            MaintenanceComponent.component_id == component.id,
            Maintenance.maintenance_status != "maintenance_complete",
        )
        .limit(1)
    )
    if open_maintenance is not None:
        raise Conflict(
            "A maintenance window that is not complete lists this component",
            code="component_in_use",
        )
    component.archived_at = now
    component.updated_at = now
    audit.record(
        session,
        actor,
        "component.archive",
        object_type="component",
        object_id=component.id,
        at=now,
        summary=f"archived component {component.name!r}",
        detail={"name": component.name},
    )
    await session.flush()


# ----------------------------------------------------------------------------- availability


@dataclass(frozen=True)
class DowntimeRefresh:
    """A freshly computed roll-up that the caller should store (see ``remember_downtime``)."""

    page_id: str
    component_id: str
    content_version: int
    ledger_rows: int
    blob: bytes


@dataclass(frozen=True)
class ComponentAvailability:
    data_available_since: datetime
    percent: str | None
    refresh: DowntimeRefresh | None = None


async def _ledger_downtime(
    session: AsyncSession, page_id: str, component_id: str
) -> tuple[Downtime, int]:
    """The component's down intervals walked from every ledger row (and the row count)."""
    ledger = ComponentStatusChange
    rows = await session.execute(
        select(
            ledger.incident_id, ledger.maintenance_id, ledger.occurred_at, ledger.seq, ledger.status
        )
        .where(ledger.status_page_id == page_id, ledger.component_id == component_id)
        .order_by(ledger.occurred_at, ledger.seq)
    )
    points = [
        LedgerPoint(incident_id or maintenance_id or "", occurred_at, seq, status)
        for incident_id, maintenance_id, occurred_at, seq, status in rows
    ]
    return Downtime.from_points(points), len(points)


async def component_availability(
    session: AsyncSession,
    *,
    page_id: str,
    component_id: str,
    start_at: datetime,
    end_at: datetime,
    now: datetime,
) -> ComponentAvailability:
    """Availability of a component placed on a page over ``[start_at, end_at)``.

    1. One round trip reads the page, the component's placement, the ledger's row count and
       first row for the component on this page, and the roll-up.
    2. NotFound for an unknown page, or a component that is not (or no longer) on it.
    3. ``data_available_since``: the component's creation, or its first ledger row on this
       page if that is earlier (backfilled history); the same rule as the public uptime bars.
    4. The covered part of the window is ``[max(start_at, since), min(end_at, now))``; no
       percentage when it is empty.
    5. Down time comes from the roll-up (``components/downtime.py``) when it was computed from
       the current page version and ledger row count; otherwise from the ledger, and the result
       carries the rebuilt roll-up for the caller to store.
    """
    ledger = ComponentStatusChange
    rollup = ComponentDowntime
    on_ledger = (ledger.status_page_id == page_id, ledger.component_id == component_id)
    on_rollup = (rollup.status_page_id == page_id, rollup.component_id == component_id)
    found = (
        await session.execute(
            select(
                StatusPage.content_version,
                select(Component.created_at)
                .join(StructureItem, StructureItem.component_id == Component.id)
                .where(
                    StructureItem.status_page_id == page_id,
                    StructureItem.kind == "component",
                    Component.id == component_id,
                    Component.archived_at.is_(None),
                )
                .limit(1)
                .scalar_subquery(),
                select(func.count()).where(*on_ledger).scalar_subquery(),
                select(func.min(ledger.occurred_at)).where(*on_ledger).scalar_subquery(),
                select(rollup.content_version).where(*on_rollup).scalar_subquery(),
                select(rollup.ledger_rows).where(*on_rollup).scalar_subquery(),
                select(rollup.intervals).where(*on_rollup).scalar_subquery(),
            ).where(StatusPage.id == page_id)
        )
    ).first()
    if found is None:
        raise NotFound("No status page with this id")
    version, component_created, rows, first_change, r_version, r_rows, blob = found
    if component_created is None:
        raise NotFound("This component is not on the status page")
    since = data_available_since(component_created, first_change)
    lo, hi = max(start_at, since), min(end_at, now)
    if hi <= lo:
        return ComponentAvailability(since, None)
    covered = (hi - lo).total_seconds()
    if not rows:
        return ComponentAvailability(since, floor_percent(covered, 0.0))
    refresh = None
    if blob is not None and (r_version, r_rows) == (version, rows):
        downtime = Downtime.unpack(blob)
    else:
        downtime, counted = await _ledger_downtime(session, page_id, component_id)
        refresh = DowntimeRefresh(page_id, component_id, version, counted, downtime.pack())
    percent = floor_percent(covered, downtime.down_seconds(lo, hi))
    return ComponentAvailability(since, percent, refresh)


async def remember_downtime(db: Database, refresh: DowntimeRefresh, now: datetime) -> None:
    """Store a rebuilt roll-up in its own transaction (a cache fill after a read; losing a race
    to a concurrent fill is harmless)."""
    try:
        async with db.write() as session:
            row = await session.get(
                ComponentDowntime, (refresh.page_id, refresh.component_id), with_for_update=True
            )
            if row is None:
                row = ComponentDowntime(
                    status_page_id=refresh.page_id, component_id=refresh.component_id
                )
                session.add(row)
            row.content_version = refresh.content_version
            row.ledger_rows = refresh.ledger_rows
            row.intervals = refresh.blob
            row.computed_at = now
    except IntegrityError:
        pass
