"""Scheduling maintenance windows, publishing their updates, and reading them back.

Every status move goes through ``publish_update``, used by the API and by the automation job
alike: it appends the update, moves the affected components through the status ledger, bumps
the page's content version and emits a ``maintenance.*`` domain event, all in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.components.ledger import LedgerWriter, changes_for_maintenances, latest_by_component
from clarion.errors import ErrorDetail, NotFound, ValidationFailed
from clarion.events import DomainEvent, EventSink
from clarion.ids import new_id
from clarion.maintenances.listing import list_maintenances, span_of
from clarion.maintenances.models import Maintenance, MaintenanceComponent, MaintenanceUpdate
from clarion.maintenances.view import (
    COMPLETE,
    IN_PROGRESS,
    SCHEDULED,
    MaintenanceView,
    load_views,
)
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import component_ids_on_page
from clarion.status_pages.versions import touch_page
from clarion.timeutil import format_ts

__all__ = [
    "MAX_UPDATES",
    "ComponentStatusInput",
    "MaintenanceView",
    "add_update",
    "affected_component_ids",
    "create_maintenance",
    "delete_maintenance",
    "last_published_at",
    "list_maintenances",
    "load_maintenance",
    "load_views",
    "publish_update",
    "reschedule_maintenance",
    "span_of",
]

MAX_UPDATES = 100
UNDER_MAINTENANCE = "under_maintenance"
OPERATIONAL = "operational"
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class ComponentStatusInput:
    component_id: str
    component_status: str


def _check_schedule(start_at: datetime, end_at: datetime) -> None:
    if end_at <= start_at:
        raise ValidationFailed.at("invalid_value", "end_at must be after start_at", "end_at")


async def _check_affected(
    session: AsyncSession, page_id: str, component_ids: Sequence[str]
) -> None:
    """Every affected component is on the page (not archived) and listed once."""
    on_page = await component_ids_on_page(session, page_id)
    seen: set[str] = set()
    problems: list[ErrorDetail] = []
    for index, component_id in enumerate(component_ids):
        name = f"affected_component_ids[{index}]"
        pointer = f"/affected_component_ids/{index}"
        if component_id not in on_page:
            problems.append(
                ErrorDetail("not_found", "This component is not on the status page", name, pointer)
            )
        elif component_id in seen:
            problems.append(
                ErrorDetail("invalid_value", "A component may be listed only once", name, pointer)
            )
        seen.add(component_id)
    if problems:
        raise ValidationFailed(*problems)


def _check_statuses(affected: Sequence[str], statuses: Sequence[ComponentStatusInput]) -> None:
    """``component_statuses`` may name only the window's affected components, each once."""
    allowed = set(affected)
    seen: set[str] = set()
    problems: list[ErrorDetail] = []
    for index, entry in enumerate(statuses):
        name = f"component_statuses[{index}].component_id"
        pointer = f"/component_statuses/{index}/component_id"
        if entry.component_id not in allowed:
            problems.append(
                ErrorDetail(
                    "not_found",
                    "This component is not one of the maintenance window's affected components",
                    name,
                    pointer,
                )
            )
        elif entry.component_id in seen:
            problems.append(
                ErrorDetail("invalid_value", "A component may be listed only once", name, pointer)
            )
        seen.add(entry.component_id)
    if problems:
        raise ValidationFailed(*problems)


async def affected_component_ids(session: AsyncSession, maintenance_id: str) -> list[str]:
    rows = await session.scalars(
        select(MaintenanceComponent.component_id)
        .where(MaintenanceComponent.maintenance_id == maintenance_id)
        .order_by(MaintenanceComponent.position)
    )
    return list(rows)


async def last_published_at(session: AsyncSession, maintenance: Maintenance) -> datetime:
    """The latest publish time among the window's updates (its own publish time if none)."""
    latest = await session.scalar(
        select(func.max(MaintenanceUpdate.published_at)).where(
            MaintenanceUpdate.maintenance_id == maintenance.id
        )
    )
    return max(maintenance.published_at, latest) if latest else maintenance.published_at


def _event_kind(old_status: str | None, new_status: str) -> str:
    if old_status == new_status:
        return "maintenance.updated"
    return {
        SCHEDULED: "maintenance.scheduled" if old_status is None else "maintenance.updated",
        IN_PROGRESS: "maintenance.started",
        COMPLETE: "maintenance.completed",
    }[new_status]


async def publish_update(
    session: AsyncSession,
    events: EventSink,
    maintenance: Maintenance,
    *,
    actor: Actor,
    old_status: str | None,
    new_status: str,
    message: str,
    component_statuses: Sequence[ComponentStatusInput],
    notify_subscribers: bool,
    at: datetime,
    now: datetime,
    automated: bool,
    automation_off: bool,
    moves_at: datetime | None = None,
) -> MaintenanceUpdate:
    """Append one update published at ``at`` and apply its status move at ``moves_at``
    (default ``at``; earlier only when a window is created already running or over).

    1. Moving into ``in_progress`` puts every affected component ``under_maintenance``;
       moving to ``complete`` or back to ``scheduled`` returns them to ``operational``.
    2. Then the explicit ``component_statuses`` apply (never while completing; callers check).
    3. The update records the resulting status of each component it changed or named.
    4. The window's status, real start/end times, update count and (when ``automation_off``)
       automation flag change; the page's content version is bumped; an event is emitted.
    5. ``actor``'s write is recorded in the audit log (``maintenance.create`` when creating,
       else ``maintenance.update``).

    ``old_status`` None means the window is being created (its row is already flushed).
    """
    affected = await affected_component_ids(session, maintenance.id)
    changes = (await changes_for_maintenances(session, [maintenance.id]))[maintenance.id]
    ledger = LedgerWriter(
        session,
        maintenance.status_page_id,
        latest_by_component(changes),
        maintenance_id=maintenance.id,
    )
    started_at = maintenance.started_at
    completed_at = maintenance.completed_at
    moved_at = moves_at or at
    if new_status == IN_PROGRESS:
        if old_status != IN_PROGRESS:
            for component_id in affected:
                ledger.set(component_id, UNDER_MAINTENANCE, moved_at)
        started_at = started_at or moved_at
        completed_at = None
    elif new_status == COMPLETE:
        if old_status != COMPLETE:
            ledger.reset_all(moved_at)
            started_at = started_at or moved_at
            completed_at = moved_at
    elif old_status not in (None, SCHEDULED):
        ledger.reset_all(moved_at)
        started_at = completed_at = None
    for entry in component_statuses:
        ledger.set(entry.component_id, entry.component_status, moved_at)
    named = set(ledger.changed) | {e.component_id for e in component_statuses}
    recorded = [
        {"component_id": c, "component_status": ledger.current.get(c, OPERATIONAL)}
        for c in affected
        if c in named
    ]
    row = MaintenanceUpdate(
        id=new_id(),
        maintenance_id=maintenance.id,
        message=message,
        maintenance_status=new_status,
        component_statuses=recorded,
        notify_subscribers=notify_subscribers,
        automated=automated,
        published_at=at,
    )
    session.add(row)
    values: dict[str, object] = {
        "maintenance_status": new_status,
        "started_at": started_at,
        "completed_at": completed_at,
        "update_count": Maintenance.update_count + (0 if old_status is None else 1),
        "updated_at": now,
    }
    if automation_off:
        values["automate"] = False
    await session.execute(
        update(Maintenance).where(Maintenance.id == maintenance.id).values(values)
    )
    await session.flush()
    touch_page(session, maintenance.status_page_id, now)
    await events.record(
        session,
        DomainEvent(
            kind=_event_kind(old_status, new_status),
            status_page_id=maintenance.status_page_id,
            subject_id=maintenance.id,
            occurred_at=at,
            notify_subscribers=notify_subscribers,
            update_id=row.id,
            component_ids=tuple(affected),
            data={"automated": automated, "maintenance_status": new_status},
        ),
    )
    detail: dict[str, object] = {
        "maintenance_status": new_status,
        "notify_subscribers": notify_subscribers,
        "update_id": row.id,
    }
    if old_status is None:
        action, summary = "maintenance.create", f"scheduled {maintenance.name!r} ({new_status})"
        detail.update(
            name=maintenance.name,
            start_at=format_ts(maintenance.start_at),
            end_at=format_ts(maintenance.end_at),
            automate=maintenance.automate,
            affected_component_ids=affected,
        )
    else:
        action, summary = "maintenance.update", f"updated {maintenance.name!r} ({new_status})"
        detail.update(automated=automated, component_statuses=recorded)
    audit.record(
        session,
        actor,
        action,
        object_type="maintenance",
        object_id=maintenance.id,
        status_page_id=maintenance.status_page_id,
        at=now,
        summary=summary,
        detail=detail,
    )
    return row


async def create_maintenance(
    session: AsyncSession,
    events: EventSink,
    *,
    actor: Actor,
    page_id: str,
    name: str,
    maintenance_status: str,
    affected_component_ids: Sequence[str],
    start_at: datetime,
    end_at: datetime,
    message: str,
    notify_subscribers: bool,
    automate: bool,
    now: datetime,
) -> MaintenanceView:
    """Publish a window with its first update.

    A window created ``in_progress`` started at ``start_at`` if that has passed, else now; one
    created ``complete`` also ended at ``end_at`` if that has passed, else now. Its components
    are moved through the ledger at those moments.
    """
    _check_schedule(start_at, end_at)
    if await session.get(StatusPage, page_id) is None:
        raise ValidationFailed.at("not_found", "No status page with this id", "status_page_id")
    await _check_affected(session, page_id, affected_component_ids)
    maintenance = Maintenance(
        id=new_id(),
        status_page_id=page_id,
        name=name,
        maintenance_status=SCHEDULED,
        start_at=start_at,
        end_at=end_at,
        automate=automate,
        notify_subscribers=notify_subscribers,
        started_at=None,
        completed_at=None,
        published_at=now,
        update_count=1,
        created_at=now,
        updated_at=now,
    )
    session.add(maintenance)
    for position, component_id in enumerate(affected_component_ids):
        session.add(
            MaintenanceComponent(
                maintenance_id=maintenance.id, component_id=component_id, position=position
            )
        )
    await session.flush()  # the ledger rows and updates reference the window
    started = min(start_at, now)
    moves_at = now
    if maintenance_status == IN_PROGRESS:
        moves_at = started
    elif maintenance_status == COMPLETE:
        # Already over: record the span it ran for; the completion closes it.
        moves_at = max(min(end_at, now), started)
        if moves_at > started:
            ledger = LedgerWriter(session, page_id, {}, maintenance_id=maintenance.id)
            for component_id in affected_component_ids:
                ledger.set(component_id, UNDER_MAINTENANCE, started)
            await session.flush()
        maintenance.started_at = started
    await publish_update(
        session,
        events,
        maintenance,
        actor=actor,
        old_status=None,
        new_status=maintenance_status,
        message=message,
        component_statuses=[],
        notify_subscribers=notify_subscribers,
        at=now,
        moves_at=moves_at,
        now=now,
        automated=False,
        automation_off=False,
    )
    return await load_maintenance(session, maintenance.id)


async def add_update(
    session: AsyncSession,
    events: EventSink,
    *,
    actor: Actor,
    maintenance_id: str,
    message: str,
    notify_subscribers: bool,
    maintenance_status: str | None,
    component_statuses: Sequence[ComponentStatusInput] | None,
    now: datetime,
) -> MaintenanceUpdate:
    """Post an update by hand. Setting ``maintenance_status`` turns automation off;
    ``maintenance_complete`` sets every affected component back to operational."""
    maintenance = await session.get(
        Maintenance, maintenance_id, with_for_update=True, populate_existing=True
    )
    if maintenance is None:
        raise ValidationFailed.at(
            "not_found", "No maintenance window with this id", "status_page_maintenance_id"
        )
    if maintenance.update_count >= MAX_UPDATES:
        raise ValidationFailed.at(
            "limit_exceeded",
            f"A maintenance window can have at most {MAX_UPDATES} updates",
            "status_page_maintenance_id",
        )
    new_status = maintenance_status or maintenance.maintenance_status
    statuses = list(component_statuses or [])
    if new_status == COMPLETE and statuses:
        raise ValidationFailed.at(
            "not_allowed",
            "component_statuses must not be sent when completing: "
            "every component becomes operational",
            "component_statuses",
        )
    _check_statuses(await affected_component_ids(session, maintenance.id), statuses)
    # Never publish before the previous update (clock steps backwards, same-instant writes).
    last_at = await last_published_at(session, maintenance)
    at = now if now > last_at else last_at + _TICK
    return await publish_update(
        session,
        events,
        maintenance,
        actor=actor,
        old_status=maintenance.maintenance_status,
        new_status=new_status,
        message=message,
        component_statuses=statuses,
        notify_subscribers=notify_subscribers,
        at=at,
        now=now,
        automated=False,
        automation_off=maintenance_status is not None,
    )


async def reschedule_maintenance(
    session: AsyncSession,
    maintenance_id: str,
    *,
    actor: Actor,
    name: str,
    start_at: datetime,
    end_at: datetime,
    now: datetime,
) -> MaintenanceView:
    """Change the name and planned times only: nothing is published and nobody is notified.
    The status never moves back (automation only ever moves a window forward)."""
    maintenance = await session.get(Maintenance, maintenance_id, with_for_update=True)
    if maintenance is None:
        raise NotFound("No maintenance window with this id")
    _check_schedule(start_at, end_at)
    audit.record(
        session,
        actor,
        "maintenance.reschedule",
        object_type="maintenance",
        object_id=maintenance.id,
        status_page_id=maintenance.status_page_id,
        at=now,
        summary=f"renamed or rescheduled {maintenance.name!r}",
        detail={
            "name": name,
            "start_at": format_ts(start_at),
            "end_at": format_ts(end_at),
            "previous": {
                "name": maintenance.name,
                "start_at": format_ts(maintenance.start_at),
                "end_at": format_ts(maintenance.end_at),
            },
        },
    )
    await session.execute(
        update(Maintenance)
        .where(Maintenance.id == maintenance.id)
        .values(name=name, start_at=start_at, end_at=end_at, updated_at=now)
    )
    touch_page(session, maintenance.status_page_id, now)
    return await load_maintenance(session, maintenance.id)


async def delete_maintenance(
    session: AsyncSession, maintenance_id: str, now: datetime, *, actor: Actor
) -> None:
    """Remove the window for good: its updates, components and ledger rows go with it, so it
    disappears from the page and its history; automation never sees it again; nobody is told."""
    maintenance = await session.get(Maintenance, maintenance_id, with_for_update=True)
    if maintenance is None:
        raise NotFound("No maintenance window with this id")
    page_id = maintenance.status_page_id
    audit.record(
        session,
        actor,
        "maintenance.delete",
        object_type="maintenance",
        object_id=maintenance.id,
        status_page_id=page_id,
        at=now,
        summary=f"deleted {maintenance.name!r}",
        detail={"name": maintenance.name, "maintenance_status": maintenance.maintenance_status},
    )
    await session.execute(delete(Maintenance).where(Maintenance.id == maintenance_id))
    session.expunge(maintenance)
    touch_page(session, page_id, now)


async def load_maintenance(session: AsyncSession, maintenance_id: str) -> MaintenanceView:
    maintenance = await session.get(Maintenance, maintenance_id, populate_existing=True)
    if maintenance is None:
        raise NotFound("No maintenance window with this id")
    return (await load_views(session, [maintenance]))[0]
