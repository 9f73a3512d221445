"""Every write the console's publishing screens make, through the API's own request models and
write functions (``incidents.api``, ``maintenances.api``, shared with the CLI): the same
validation (``ValidationFailed`` with the API's fields and messages), the same events, outbox
rows and audit entries, and the API's idempotency records against double submits.

Each create form carries a hidden ``idempotency_key`` made when the form was shown, so a second
post of the same form (a double click, a reload after a slow answer) replays the first result
instead of publishing again. Incident and maintenance updates take no key on the API; the
console still runs them through ``run_idempotent``, in namespaces of its own.

This module is the only place where the console calls a write service: the signed-in user
(``visit``) is the audit log's actor (``actor_of``).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.console.sessions import Visit, set_flash
from clarion.context import AppContext
from clarion.http.idempotency import Then, run_idempotent
from clarion.http.validation import details_from_pydantic
from clarion.incidents import api as incidents_api
from clarion.incidents import retrospective
from clarion.incidents import service as incidents
from clarion.incidents.schemas import (
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageRetrospectiveIncidentPayloadV2,
    StatusPagesUpdateStatusPageIncidentPayloadV2,
)
from clarion.maintenances import api as maintenances_api
from clarion.maintenances import service as maintenances
from clarion.maintenances.schemas import (
    StatusPagesCreateStatusPageMaintenancePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
)

M = TypeVar("M", bound=BaseModel)

#: The console's own idempotency namespaces (the API's updates take no key).
INCIDENT_UPDATES = "console:status_page_incident_updates"
MAINTENANCE_UPDATES = "console:status_page_maintenance_updates"


def actor_of(visit: Visit) -> Actor:
    """The audit log's actor for the signed-in user's writes."""
    return Actor.user(visit.user_id, visit.email)


def validated(model: type[M], values: dict[str, Any]) -> M:
    """``values`` as the API's request ``model``; raises the API's 422 (``ValidationFailed``)
    with its fields and messages."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise details_from_pydantic(error.errors()) from None


async def _reported(
    ctx: AppContext,
    visit: Visit,
    run: Callable[[Then], Awaitable[tuple[int, dict[str, Any]]]],
    flash: str,
    replayed_flash: str,
) -> dict[str, Any]:
    """Run the idempotent write ``run`` and show ``flash`` on the next page, written in the
    write's own transaction (``run`` calls its argument there when it does the work), or
    ``replayed_flash`` when this post repeated an earlier one; returns the body."""
    ran = False

    async def then(session: AsyncSession) -> None:
        nonlocal ran
        ran = True
        await set_flash(session, visit.session_id, flash)

    _status, body = await run(then)
    if not ran:
        async with ctx.db.write() as session:
            await set_flash(session, visit.session_id, replayed_flash)
    return body


async def _once(
    ctx: AppContext,
    visit: Visit,
    endpoint: str,
    key: str,
    fingerprint: dict[str, Any],
    write: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
    flash: str,
    replayed_flash: str,
) -> dict[str, Any]:
    """Run ``write`` once per (``endpoint``, ``key``) and show its flash as ``_reported``
    does; returns the stored body. ``fingerprint``: what a repeated post must match (else
    ``idempotency_key_reused``)."""
    key = key or secrets.token_urlsafe(18)  # a post without a key is never a repeat

    async def run(then: Then) -> tuple[int, dict[str, Any]]:
        async def action(session: AsyncSession) -> dict[str, Any]:
            body = await write(session)
            await then(session)
            return body

        return await run_idempotent(ctx, endpoint, key, fingerprint, action)

    return await _reported(ctx, visit, run, flash, replayed_flash)


# -- incidents ---------------------------------------------------------------------------------


async def declare_incident(ctx: AppContext, visit: Visit, values: dict[str, Any]) -> str:
    """Publish the incident ``values`` describe (the API's create payload); returns its id."""
    payload = validated(StatusPagesCreateStatusPageIncidentPayloadV2, values)
    body = await _reported(
        ctx,
        visit,
        lambda then: incidents_api.create_incident(ctx, actor_of(visit), payload, then),
        f"Published the incident “{payload.name}”.",
        "This form was already published: here is the incident it created.",
    )
    return str(body["status_page_incident"]["id"])


async def post_incident_update(
    ctx: AppContext, visit: Visit, key: str, form: dict[str, Any], values: dict[str, Any]
) -> None:
    """Publish the update ``values`` describe (the API's update payload), once per ``key``
    and the ``form`` it came from (its changes depend on the incident's state, which the
    first post changed)."""
    payload = validated(StatusPagesCreateStatusPageIncidentUpdatePayloadV2, values)

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await incidents_api.post_update(session, ctx, actor_of(visit), payload)
        return {"id": row.id}

    await _once(
        ctx,
        visit,
        INCIDENT_UPDATES,
        key,
        form,
        write,
        "Published the update.",
        "This update was already published.",
    )


async def rename_incident(ctx: AppContext, visit: Visit, incident_id: str, name: str) -> None:
    """Change the incident's name (nothing is published, nobody is notified)."""
    payload = validated(StatusPagesUpdateStatusPageIncidentPayloadV2, {"name": name})
    async with ctx.db.write() as session:
        await incidents.rename_incident(
            session, incident_id, payload.name, ctx.clock.now(), actor=actor_of(visit)
        )
        await set_flash(session, visit.session_id, f"Renamed the incident “{payload.name}”.")


async def backfill_incident(ctx: AppContext, visit: Visit, values: dict[str, Any]) -> str:
    """Record the past incident ``values`` describe (the API's retrospective payload);
    returns its id."""
    payload = validated(StatusPagesCreateStatusPageRetrospectiveIncidentPayloadV2, values)
    updates = [
        retrospective.RetrospectiveUpdateInput(
            incident_status=str(u.incident_status),
            message=u.message,
            published_at=u.published_at,
            component_statuses=incidents_api.statuses_of(u),
        )
        for u in payload.updates
    ]

    async def write(session: AsyncSession) -> dict[str, Any]:
        view = await retrospective.create_retrospective_incident(
            session,
            actor=actor_of(visit),
            page_id=payload.status_page_id,
            name=payload.name,
            updates=updates,
            now=ctx.clock.now(),
        )
        return {"status_page_incident": incidents_api.view_body(view)}

    body = await _once(
        ctx,
        visit,
        "status_page_retrospective_incidents",
        payload.idempotency_key,
        payload.model_dump(mode="json"),
        write,
        f"Recorded the past incident “{payload.name}”.",
        "This form was already recorded: here is the incident it created.",
    )
    return str(body["status_page_incident"]["id"])


# -- maintenance -------------------------------------------------------------------------------


async def schedule_maintenance(ctx: AppContext, visit: Visit, values: dict[str, Any]) -> str:
    """Publish the window ``values`` describe (the API's create payload); returns its id."""
    payload = validated(StatusPagesCreateStatusPageMaintenancePayloadV2, values)
    body = await _reported(
        ctx,
        visit,
        lambda then: maintenances_api.create_window(ctx, actor_of(visit), payload, then),
        f"Scheduled the maintenance “{payload.name}”.",
        "This form was already published: here is the window it scheduled.",
    )
    return str(body["status_page_maintenance"]["id"])


async def post_maintenance_update(
    ctx: AppContext, visit: Visit, key: str, form: dict[str, Any], values: dict[str, Any]
) -> None:
    """Publish the window's update ``values`` describe (the API's payload), once per
    ``key`` and the ``form`` it came from."""
    payload = validated(StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2, values)

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await maintenances_api.post_window_update(session, ctx, actor_of(visit), payload)
        return {"id": row.id}

    await _once(
        ctx,
        visit,
        MAINTENANCE_UPDATES,
        key,
        form,
        write,
        "Published the update.",
        "This update was already published.",
    )


async def cancel_maintenance(ctx: AppContext, visit: Visit, maintenance_id: str) -> str:
    """Remove the window for good (the API's delete); returns its name."""
    async with ctx.db.write() as session:
        view = await maintenances.load_maintenance(session, maintenance_id)
        name = view.maintenance.name
        await maintenances.delete_maintenance(
            session, maintenance_id, ctx.clock.now(), actor=actor_of(visit)
        )
        await set_flash(session, visit.session_id, f"Cancelled the maintenance “{name}”.")
    return name
