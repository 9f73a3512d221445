"""The JSON body of a notification, one per domain event (used by webhooks and e-mail).

Every body has the same envelope::

    {"type": "incident.updated", "timestamp": "2026-…Z",
     "data": {"status_page": {...}, "incident": {...}, "update": {...},
              "affected_components": [...]}}

``data.incident`` is incident.io's ``StatusPageIncidentV2`` and ``data.update`` its
``StatusPageIncidentUpdateV2``; maintenance events carry ``data.maintenance``
(``StatusPageMaintenanceV2`` plus the planned ``start_at``/``end_at``) and ``data.update``
(``StatusPageMaintenanceUpdateV2``) instead.
Incident bodies also carry incident.io's own outbound webhook shape
(``status_page_incident.update_shared_v1``: an ``event_type`` key plus a key named literally
``status_page_incident.update_shared_v1``), so a receiver written for incident.io's webhook
works unchanged. As everywhere on the wire, optional keys are left out rather than null.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.models import Component
from clarion.errors import NotFound
from clarion.events import DomainEvent
from clarion.incidents.schemas import update_v2
from clarion.incidents.service import load_incident
from clarion.maintenances.schemas import maintenance_update_v2, maintenance_v2
from clarion.maintenances.service import load_maintenance
from clarion.public.visibility import hidden_component_ids, public_incidents, public_maintenances
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url
from clarion.status_pages.service import load_structure
from clarion.timeutil import format_ts

INCIDENT_KINDS = frozenset({"incident.created", "incident.updated", "incident.resolved"})
MAINTENANCE_KINDS = frozenset(
    {
        "maintenance.scheduled",
        "maintenance.started",
        "maintenance.updated",
        "maintenance.completed",
    }
)
#: incident.io's outbound webhook event for a shared status page incident update.
INCIDENT_IO_EVENT = "status_page_incident.update_shared_v1"


async def build_payload(
    session: AsyncSession, event: DomainEvent, settings: Settings
) -> dict[str, Any]:
    """The body for ``event``, read through ``session`` (the outbox calls this inside the
    writing transaction, so the body is a snapshot of the moment of publication).

    Raises ``NotFound`` when the page or the subject (incident, maintenance) no longer exists,
    and ``ValueError`` for an event kind that has no notification body.
    """
    page = await session.get(StatusPage, event.status_page_id)
    if page is None:
        raise NotFound("No status page with this id")
    data: dict[str, Any] = {
        "status_page": {"id": page.id, "name": page.name, "url": public_url(page, settings)}
    }
    body: dict[str, Any] = {
        "type": event.kind,
        "timestamp": format_ts(event.occurred_at),
        "data": data,
    }
    # Hidden components are not public: no notification names them (nor gives their ids).
    hidden = hidden_component_ids(await load_structure(session, page.id))
    if event.kind in INCIDENT_KINDS:
        component_ids = await _incident_payload(session, event, data, hidden)
        body["event_type"] = INCIDENT_IO_EVENT
        body[INCIDENT_IO_EVENT] = {
            "status_page_incident": data["incident"],
            "update": data["update"],
        }
    elif event.kind in MAINTENANCE_KINDS:
        component_ids = await _maintenance_payload(session, event, data, hidden)
    else:
        raise ValueError(f"no notification body for event kind {event.kind!r}")
    shown = [c for c in component_ids if c not in hidden]
    data["affected_components"] = await _components(session, shown)
    return body


async def _incident_payload(
    session: AsyncSession, event: DomainEvent, data: dict[str, Any], hidden: frozenset[str]
) -> list[str]:
    from clarion.incidents.schemas import incident_v2

    view = public_incidents([await load_incident(session, event.subject_id)], hidden)[0]
    incident = incident_v2(view.incident, view.updates, view.impacts)
    data["incident"] = incident
    chosen = next((u for u in view.updates if u.id == event.update_id), None)
    if chosen is None and view.updates:
        chosen = view.updates[0]  # newest: the event named no (or an unknown) update
    if chosen is None:
        raise NotFound("The incident has no updates")
    data["update"] = update_v2(chosen)
    ids = [c["component_id"] for c in chosen.component_statuses]
    ids += [i.component_id for i in view.impacts]
    ids += list(event.component_ids)
    return list(dict.fromkeys(ids))


async def _maintenance_payload(
    session: AsyncSession, event: DomainEvent, data: dict[str, Any], hidden: frozenset[str]
) -> list[str]:
    view = public_maintenances([await load_maintenance(session, event.subject_id)], hidden)[0]
    maintenance = maintenance_v2(view)
    # Clarion's additions to StatusPageMaintenanceV2: the planned window (what readers of an
    # e-mail or a chat message need first).
    maintenance["start_at"] = format_ts(view.maintenance.start_at)
    maintenance["end_at"] = format_ts(view.maintenance.end_at)
    data["maintenance"] = maintenance
    chosen = next((u for u in view.updates if u.id == event.update_id), None)
    if chosen is None and view.updates:
        chosen = view.updates[0]  # newest: the event named no (or an unknown) update
    if chosen is not None:
        data["update"] = maintenance_update_v2(chosen)
    return list(dict.fromkeys([*view.component_ids, *event.component_ids]))


async def _components(session: AsyncSession, ids: list[str]) -> list[dict[str, str]]:
    """``[{"id", "name"}]`` in the given order, for readers who want names, not ids."""
    if not ids:
        return []
    rows = await session.execute(select(Component.id, Component.name).where(Component.id.in_(ids)))
    names = {row.id: row.name for row in rows}
    return [{"id": i, "name": names[i]} for i in ids if i in names]
