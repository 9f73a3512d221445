"""Publishing incidents and their updates; reading them back with derived impacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.components.ledger import (
    ChangePoint,
    Impact,
    LedgerWriter,
    change_points_for_incidents,
    changes_for_incidents,
    impacts_from_changes,
    latest_by_component,
)
from clarion.components.models import Component, ComponentStatusChange
from clarion.db.in_lists import padded
from clarion.errors import ErrorDetail, NotFound, ValidationFailed
from clarion.events import DomainEvent, EventSink
from clarion.http.filters import ListFilters, resolve_component_ids, span_overlaps
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.status_pages.models import StatusPage, StructureItem
from clarion.status_pages.service import component_ids_on_page
from clarion.status_pages.versions import touch_page

MAX_UPDATES = 100
RESOLVED = "resolved"


@dataclass
class IncidentView:
    incident: Incident
    updates: list[IncidentUpdate]  # newest first
    impacts: list[Impact]


@dataclass(frozen=True)
class ComponentStatusInput:
    component_id: str
    component_status: str


_PAGE_ID = select(StatusPage.id).where(StatusPage.id == bindparam("page_id"))


async def _require_page(session: AsyncSession, page_id: str, field: str = "status_page_id") -> None:
    if (await session.execute(_PAGE_ID, {"page_id": page_id})).first() is None:
        raise ValidationFailed.at("not_found", "No status page with this id", field)


def component_problems(
    on_page: set[str], statuses: Sequence[ComponentStatusInput], field: str
) -> list[ErrorDetail]:
    """Each component must be on the page (and not archived), and appear at most once."""
    seen: set[str] = set()
    problems: list[ErrorDetail] = []
    for index, entry in enumerate(statuses):
        pointer = f"/{field}/{index}/component_id"
        name = f"{field}[{index}].component_id"
        if entry.component_id not in on_page:
            problems.append(
                ErrorDetail("not_found", "This component is not on the status page", name, pointer)
            )
        elif entry.component_id in seen:
            problems.append(
                ErrorDetail("invalid_value", "A component may be listed only once", name, pointer)
            )
        seen.add(entry.component_id)
    return problems


async def check_components(
    session: AsyncSession,
    page_id: str,
    statuses: Sequence[ComponentStatusInput],
    field: str = "component_statuses",
) -> None:
    """Each component must be on the page (and not archived), and appear at most once."""
    if not statuses:
        return
    problems = component_problems(await component_ids_on_page(session, page_id), statuses, field)
    if problems:
        raise ValidationFailed(*problems)


def _as_json(statuses: Sequence[ComponentStatusInput]) -> list[dict[str, str]]:
    return [
        {"component_id": s.component_id, "component_status": s.component_status} for s in statuses
    ]


#: The page and its components (not archived), in one statement: no row means no page; a row
#: with a null component, a page without any.
_PAGE_COMPONENTS = (
    select(StatusPage.id, StructureItem.component_id)
    .select_from(StatusPage)
    .outerjoin(
        StructureItem,
        and_(
            StructureItem.status_page_id == StatusPage.id,
            StructureItem.kind == "component",
            exists().where(
                Component.id == StructureItem.component_id, Component.archived_at.is_(None)
            ),
        ),
    )
    .where(StatusPage.id == bindparam("page_id"))
)


async def create_incident(
    session: AsyncSession,
    events: EventSink,
    *,
    actor: Actor,
    page_id: str,
    name: str,
    incident_status: str,
    message: str,
    notify_subscribers: bool,
    component_statuses: Sequence[ComponentStatusInput],
    now: datetime,
) -> IncidentView:
    """Publish an incident with its first update (and its component impacts)."""
    rows = (await session.execute(_PAGE_COMPONENTS, {"page_id": page_id})).all()
    if not rows:
        raise ValidationFailed.at("not_found", "No status page with this id", "status_page_id")
    if incident_status == RESOLVED and any(
        s.component_status != "operational" for s in component_statuses
    ):
        raise ValidationFailed.at(
            "not_allowed",
            "component_statuses cannot mark components as affected on a resolved incident",
            "component_statuses",
        )
    on_page = {row.component_id for row in rows if row.component_id is not None}
    problems = component_problems(on_page, component_statuses, "component_statuses")
    if problems:
        raise ValidationFailed(*problems)
    incident = Incident(
        id=new_id(),
        status_page_id=page_id,
        name=name,
        incident_status=incident_status,
        published_at=now,
        resolved_at=now if incident_status == RESOLVED else None,
        retrospective=False,
        update_count=1,
        created_at=now,
        updated_at=now,
    )
    first = IncidentUpdate(
        id=new_id(),
        incident_id=incident.id,
        message=message,
        incident_status=incident_status,
        component_statuses=_as_json(component_statuses),
        notify_subscribers=notify_subscribers,
        published_at=now,
    )
    session.add_all([incident, first])
    await session.flush()  # the ledger rows reference the incident
    ledger = LedgerWriter(session, page_id, {}, incident_id=incident.id)
    for entry in component_statuses:
        ledger.set(entry.component_id, entry.component_status, now)
    touch_page(session, page_id, now)
    await session.flush()
    await events.record(
        session,
        DomainEvent(
            kind="incident.resolved" if incident_status == RESOLVED else "incident.created",
            status_page_id=page_id,
            subject_id=incident.id,
            occurred_at=now,
            notify_subscribers=notify_subscribers,
            update_id=first.id,
            component_ids=tuple(s.component_id for s in component_statuses),
        ),
    )
    audit.record(
        session,
        actor,
        "incident.create",
        object_type="incident",
        object_id=incident.id,
        status_page_id=page_id,
        at=now,
        summary=f"declared {name!r} ({incident_status})",
        detail={
            "name": name,
            "incident_status": incident_status,
            "notify_subscribers": notify_subscribers,
            "component_statuses": _as_json(component_statuses),
            "update_id": first.id,
        },
    )
    # Everything the view shows was written just now: its impacts come from what was written
    # (the same derivation ``load_views`` applies to the stored rows).
    changes = [ChangePoint(c, ledger.current[c], now) for c in ledger.changed]
    return IncidentView(incident=incident, updates=[first], impacts=impacts_from_changes(changes))


async def add_update(
    session: AsyncSession,
    events: EventSink,
    *,
    actor: Actor,
    incident_id: str,
    message: str,
    notify_subscribers: bool,
    incident_status: str | None,
    component_statuses: Sequence[ComponentStatusInput] | None,
    now: datetime,
) -> IncidentUpdate:
    """Post an update. ``resolved`` sets every affected component back to operational."""
    incident = await session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise ValidationFailed.at(
            "not_found", "No status page incident with this id", "status_page_incident_id"
        )
    if incident.update_count >= MAX_UPDATES:
        raise ValidationFailed.at(
            "limit_exceeded",
            f"An incident can have at most {MAX_UPDATES} updates",
            "status_page_incident_id",
        )
    new_status = incident_status or incident.incident_status
    if new_status == RESOLVED and component_statuses:
        raise ValidationFailed.at(
            "not_allowed",
            "component_statuses must not be sent when resolving: "
            "every component becomes operational",
            "component_statuses",
        )
    statuses = list(component_statuses or [])
    await check_components(session, incident.status_page_id, statuses)
    changes = (await changes_for_incidents(session, [incident.id]))[incident.id]
    # Never publish before the previous update (clock steps backwards, same-instant writes).
    last_at = max([incident.published_at, *(c.occurred_at for c in changes)])
    at = now if now > last_at else last_at + timedelta(microseconds=1)
    ledger = LedgerWriter(
        session, incident.status_page_id, latest_by_component(changes), incident_id=incident.id
    )
    for entry in statuses:
        ledger.set(entry.component_id, entry.component_status, at)
    was_resolved = incident.incident_status == RESOLVED
    if new_status == RESOLVED:
        ledger.reset_all(at)
    row = IncidentUpdate(
        id=new_id(),
        incident_id=incident.id,
        message=message,
        incident_status=new_status,
        component_statuses=_as_json(statuses),
        notify_subscribers=notify_subscribers,
        published_at=at,
    )
    session.add(row)
    await session.execute(
        update(Incident)
        .where(Incident.id == incident.id)
        .values(
            incident_status=new_status,
            update_count=Incident.update_count + 1,
            resolved_at=(incident.resolved_at or at) if new_status == RESOLVED else None,
            updated_at=now,
        )
    )
    await session.flush()
    touch_page(session, incident.status_page_id, now)
    kind = "incident.updated"
    if new_status == RESOLVED and not was_resolved:
        kind = "incident.resolved"
    await events.record(
        session,
        DomainEvent(
            kind=kind,
            status_page_id=incident.status_page_id,
            subject_id=incident.id,
            occurred_at=at,
            notify_subscribers=notify_subscribers,
            update_id=row.id,
            component_ids=tuple(sorted(set(ledger.current))),
        ),
    )
    audit.record(
        session,
        actor,
        "incident.resolve" if kind == "incident.resolved" else "incident.update",
        object_type="incident",
        object_id=incident.id,
        status_page_id=incident.status_page_id,
        at=now,
        summary=f"posted an update to {incident.name!r} ({new_status})",
        detail={
            "incident_status": new_status,
            "notify_subscribers": notify_subscribers,
            "component_statuses": _as_json(statuses),
            "update_id": row.id,
        },
    )
    return row


async def rename_incident(
    session: AsyncSession, incident_id: str, name: str, now: datetime, *, actor: Actor
) -> IncidentView:
    """Change the title only: no update is published and nobody is notified."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("No status page incident with this id")
    audit.record(
        session,
        actor,
        "incident.rename",
        object_type="incident",
        object_id=incident.id,
        status_page_id=incident.status_page_id,
        at=now,
        summary=f"renamed {incident.name!r} to {name!r}",
        detail={"name": name, "previous_name": incident.name},
    )
    incident.name = name
    incident.updated_at = now
    await session.flush()
    touch_page(session, incident.status_page_id, now)
    return await load_incident(session, incident.id)


async def load_incident(session: AsyncSession, incident_id: str) -> IncidentView:
    incident = await session.get(Incident, incident_id, populate_existing=True)
    if incident is None:
        raise NotFound("No status page incident with this id")
    return (await load_views(session, [incident]))[0]


async def load_views(session: AsyncSession, incidents: Sequence[Incident]) -> list[IncidentView]:
    """Attach updates (newest first) and impacts, in two queries for the whole batch."""
    ids = [i.id for i in incidents]
    updates: dict[str, list[IncidentUpdate]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            select(IncidentUpdate)
            .where(IncidentUpdate.incident_id.in_(padded(ids)))
            .order_by(IncidentUpdate.published_at.desc(), IncidentUpdate.id.desc())
        )
        for row in rows:
            updates[row.incident_id].append(row)
    changes = await change_points_for_incidents(session, ids)
    return [
        IncidentView(incident=i, updates=updates[i.id], impacts=impacts_from_changes(changes[i.id]))
        for i in incidents
    ]


#: Below this many ledger rows for the filtered components, their incidents are looked up
#: by id; above it, the newest-first scan finds a page of matches quickly instead.
FEW_LEDGER_ROWS = 1000


async def _touching_components(
    session: AsyncSession, query: Select[Any], page_id: str, component_ids: set[str]
) -> Select[Any] | None:
    """Narrow ``query`` to incidents that gave one of the components a status (a ledger row).

    Two plans, chosen by how many ledger rows the components have (an index-only count):
    few rows, rare components: collect their incident ids and fetch those incidents; many
    rows: walk the page's incidents newest first with an ``EXISTS`` probe of the ledger's
    incident index, which finds a page of matches after a few probes. None: nothing matches.
    """
    ledger = ComponentStatusChange
    on_components = (
        ledger.status_page_id == page_id,
        ledger.component_id.in_(sorted(component_ids)),
        ledger.incident_id.is_not(None),
    )
    # Index-only and bounded: stop counting past the threshold.
    sample = (
        select(ledger.occurred_at).where(*on_components[:2]).limit(FEW_LEDGER_ROWS + 1).subquery()
    )
    rows = await session.scalar(select(func.count()).select_from(sample))
    if (rows or 0) <= FEW_LEDGER_ROWS:
        ids = set(await session.scalars(select(ledger.incident_id).where(*on_components)))
        if not ids:
            return None
        return query.where(Incident.id.in_(sorted(i for i in ids if i is not None)))
    return query.where(
        exists().where(
            ledger.incident_id == Incident.id, ledger.component_id.in_(sorted(component_ids))
        )
    )


async def list_incidents(
    session: AsyncSession,
    *,
    page_id: str,
    limit: int,
    after: str | None,
    filters: ListFilters | None = None,
) -> tuple[list[IncidentView], bool]:
    """Newest first (``published_at`` then id, descending); ``after`` is an incident id.

    ``filters`` (see ``http/filters.py``): the incident's active span, first publish until
    resolution (or ongoing), must touch ``[start_at, end_at]``; with a component, group or
    sub-page filter, it must have given one of the components a status (a ledger row: every
    impact, and every status change it published for it).

    Without filters the page is looked up only when the list comes back empty: an incident row
    proves its page exists (foreign key), and this list is the hottest read path.
    """
    if filters is not None and not (filters.by_structure or filters.by_time):
        filters = None
    if filters is not None:
        await _require_page(session, page_id)
    query = select(Incident).where(Incident.status_page_id == page_id)
    if filters is not None:
        query = query.where(*span_overlaps(Incident.published_at, Incident.resolved_at, filters))
        component_ids = await resolve_component_ids(session, page_id, filters)
        if component_ids is not None:
            if not component_ids:
                return [], False
            narrowed = await _touching_components(session, query, page_id, component_ids)
            if narrowed is None:
                return [], False
            query = narrowed
    if after is not None:
        anchor = (
            await session.execute(
                select(Incident.status_page_id, Incident.published_at, Incident.id).where(
                    Incident.id == after
                )
            )
        ).first()
        if anchor is None or anchor.status_page_id != page_id:
            await _require_page(session, page_id)
            raise ValidationFailed.at(
                "invalid_cursor", "after does not name an incident of this status page", "after"
            )
        # The first condition alone is a range on the (page, published_at, id) index. Without
        # it PostgreSQL walks the index from the newest incident and filters every row before
        # the anchor (deep pages get slower with depth); SQLite finds the range either way.
        query = query.where(
            Incident.published_at <= anchor.published_at,
            (Incident.published_at < anchor.published_at) | (Incident.id < anchor.id),
        )
    query = query.order_by(Incident.published_at.desc(), Incident.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    if not rows and filters is None:
        await _require_page(session, page_id)
    return await load_views(session, rows[:limit]), len(rows) > limit
