"""Retrospective incidents: an incident that already happened, with its rebuilt timeline.

Meant for backfill (moving from another status page provider, or recording an outage after
the fact). The rules, checked before anything is written (422 otherwise):

1. every update's ``published_at`` is in the past (``< now``);
2. updates are in strictly increasing ``published_at`` order, earliest first;
3. the last update is ``resolved`` and no earlier one is (an incident is resolved once);
4. ``component_statuses`` are allowed on every update but the last; on the last one only
   ``operational`` entries are accepted, since resolving sets every component back to
   ``operational`` anyway;
5. every listed component is on the page, at most once per update.

The ledger rows carry the supplied timestamps, so the incident's impacts, the components'
availability and the uptime bars all reflect the past outage. The incident's ``published_at``
is the first update's and it is resolved at the last update's. Subscribers are never notified
(no event reaches the outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.components.ledger import LedgerWriter
from clarion.errors import ErrorDetail, ValidationFailed
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.incidents.service import (
    MAX_UPDATES,
    RESOLVED,
    ComponentStatusInput,
    IncidentView,
    load_incident,
)
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import component_ids_on_page
from clarion.status_pages.versions import touch_page


@dataclass(frozen=True)
class RetrospectiveUpdateInput:
    incident_status: str
    message: str
    published_at: datetime
    component_statuses: Sequence[ComponentStatusInput] = field(default_factory=tuple)


def _problem(code: str, message: str, index: int, name: str) -> ErrorDetail:
    return ErrorDetail(code, message, f"updates[{index}].{name}", f"/updates/{index}/{name}")


async def _check(
    session: AsyncSession,
    page_id: str,
    updates: Sequence[RetrospectiveUpdateInput],
    now: datetime,
) -> None:
    if await session.get(StatusPage, page_id) is None:
        raise ValidationFailed.at("not_found", "No status page with this id", "status_page_id")
    if not updates:
        raise ValidationFailed.at("is_required", "updates must not be empty", "updates")
    if len(updates) > MAX_UPDATES:
        raise ValidationFailed.at(
            "limit_exceeded", f"An incident can have at most {MAX_UPDATES} updates", "updates"
        )
    on_page = await component_ids_on_page(session, page_id)
    problems: list[ErrorDetail] = []
    last = len(updates) - 1
    previous: datetime | None = None
    for index, entry in enumerate(updates):
        if entry.published_at >= now:
            problems.append(
                _problem("invalid_value", "published_at must be in the past", index, "published_at")
            )
        if previous is not None and entry.published_at <= previous:
            problems.append(
                _problem(
                    "invalid_value",
                    "Updates must be in chronological order, each after the previous one",
                    index,
                    "published_at",
                )
            )
        previous = entry.published_at
        if index == last and entry.incident_status != RESOLVED:
            problems.append(
                _problem(
                    "invalid_value", "The last update must be resolved", index, "incident_status"
                )
            )
        if index < last and entry.incident_status == RESOLVED:
            problems.append(
                _problem(
                    "not_allowed",
                    "Only the last update may resolve the incident",
                    index,
                    "incident_status",
                )
            )
        seen: set[str] = set()
        for position, status in enumerate(entry.component_statuses):
            name = f"component_statuses[{position}].component_id"
            pointer_name = f"component_statuses/{position}/component_id"
            if index == last and status.component_status != "operational":
                problems.append(
                    ErrorDetail(
                        "not_allowed",
                        "The resolving update sets every component back to operational; "
                        "it cannot mark components as affected",
                        f"updates[{index}].component_statuses",
                        f"/updates/{index}/component_statuses",
                    )
                )
            elif status.component_id not in on_page:
                problems.append(
                    ErrorDetail(
                        "not_found",
                        "This component is not on the status page",
                        f"updates[{index}].{name}",
                        f"/updates/{index}/{pointer_name}",
                    )
                )
            elif status.component_id in seen:
                problems.append(
                    ErrorDetail(
                        "invalid_value",
                        "A component may be listed only once per update",
                        f"updates[{index}].{name}",
                        f"/updates/{index}/{pointer_name}",
                    )
                )
            seen.add(status.component_id)
    if problems:
        raise ValidationFailed(*problems)


def _as_json(statuses: Sequence[ComponentStatusInput]) -> list[dict[str, str]]:
    return [
        {"component_id": s.component_id, "component_status": s.component_status} for s in statuses
    ]


async def create_retrospective_incident(
    session: AsyncSession,
    *,
    actor: Actor,
    page_id: str,
    name: str,
    updates: Sequence[RetrospectiveUpdateInput],
    now: datetime,
) -> IncidentView:
    """Record an already resolved incident with its timeline (rules in the module docstring)."""
    await _check(session, page_id, updates, now)
    first, final = updates[0], updates[-1]
    incident = Incident(
        id=new_id(),
        status_page_id=page_id,
        name=name,
        incident_status=RESOLVED,
        published_at=first.published_at,
        resolved_at=final.published_at,
        retrospective=True,
        update_count=len(updates),
        created_at=now,
        updated_at=now,
    )
    session.add(incident)
    rows = [
        IncidentUpdate(
            id=new_id(),
            incident_id=incident.id,
            message=entry.message,
            incident_status=entry.incident_status,
            component_statuses=_as_json(entry.component_statuses),
            notify_subscribers=False,
            published_at=entry.published_at,
        )
        for entry in updates
    ]
    session.add_all(rows)
    await session.flush()  # the ledger rows reference the incident
    ledger = LedgerWriter(session, page_id, {}, incident_id=incident.id)
    for entry in updates:
        for status in entry.component_statuses:
            ledger.set(status.component_id, status.component_status, entry.published_at)
    ledger.reset_all(final.published_at)
    await session.flush()
    touch_page(session, page_id, now)
    audit.record(
        session,
        actor,
        "incident.backfill",
        object_type="incident",
        object_id=incident.id,
        status_page_id=page_id,
        at=now,
        summary=f"backfilled {name!r} ({len(updates)} updates)",
        detail={
            "name": name,
            "published_at": first.published_at.isoformat(),
            "resolved_at": final.published_at.isoformat(),
            "updates": len(updates),
        },
    )
    return await load_incident(session, incident.id)
