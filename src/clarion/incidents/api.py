"""Thin handlers for ``/v2/status_page_incidents`` and ``/v2/status_page_incident_updates``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from clarion.api_keys.service import PUBLISH_ROLE, Principal
from clarion.audit import Actor
from clarion.context import AppContext
from clarion.http.auth import RETROSPECTIVE_BUCKET, ApiRoute, context_of, require
from clarion.http.filter_query import list_filters
from clarion.http.filters import ListFilters
from clarion.http.idempotency import Then, run_idempotent
from clarion.http.json import json_response
from clarion.http.list_cache import cached_page_list
from clarion.http.pagination import PageRequest, page_request, pagination_meta
from clarion.http.wire import ERROR_RESPONSES
from clarion.incidents import retrospective, service
from clarion.incidents.models import IncidentUpdate
from clarion.incidents.schemas import (
    StatusPageIncidentResult,
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdateResultV2,
    StatusPagesCreateStatusPageRetrospectiveIncidentPayloadV2,
    StatusPagesListStatusPageIncidentsResultV2,
    StatusPagesUpdateStatusPageIncidentPayloadV2,
    incident_v2,
    update_v2,
)

router = APIRouter(
    tags=["Status Page Incidents V2"], responses=ERROR_RESPONSES, route_class=ApiRoute
)


def view_body(view: service.IncidentView) -> dict[str, Any]:
    return incident_v2(view.incident, view.updates, view.impacts)


def statuses_of(payload: Any) -> list[service.ComponentStatusInput]:
    return [
        service.ComponentStatusInput(c.component_id, str(c.component_status))
        for c in payload.component_statuses or []
    ]


@router.get(
    "/v2/status_page_incidents",
    operation_id="StatusPagesV2_ListStatusPageIncidents",
    summary="List status page incidents",
    responses={200: {"model": StatusPagesListStatusPageIncidentsResultV2}},
)
async def list_status_page_incidents(
    request: Request,
    status_page_id: Annotated[str, Query(min_length=1, max_length=64)],
    page: Annotated[PageRequest, Depends(page_request)],
    filters: Annotated[ListFilters, Depends(list_filters)],
    _key: Annotated[Principal, Depends(require())],
) -> Response:

    async def build(session: AsyncSession) -> dict[str, Any]:
        views, more = await service.list_incidents(
            session,
            page_id=status_page_id,
            limit=page.page_size,
            after=page.after,
            filters=filters,
        )
        items = [view_body(v) for v in views]
        return {
            "status_page_incidents": items,
            "pagination_meta": pagination_meta(page, items, more),
        }

    ctx = context_of(request)
    key = ("status_page_incidents", status_page_id, page, filters)
    return await cached_page_list(ctx.db, ctx.list_cache, status_page_id, key, build)


@router.post(
    "/v2/status_page_incidents",
    status_code=201,
    operation_id="StatusPagesV2_CreateStatusPageIncident",
    summary="Create a status page incident",
    responses={201: {"model": StatusPageIncidentResult}},
)
async def create_status_page_incident(
    request: Request,
    payload: StatusPagesCreateStatusPageIncidentPayloadV2,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE))],
) -> Response:
    status, body = await create_incident(context_of(request), key.actor, payload)
    return json_response(body, status_code=status)


async def create_incident(
    ctx: AppContext,
    actor: Actor,
    payload: StatusPagesCreateStatusPageIncidentPayloadV2,
    then: Then | None = None,
) -> tuple[int, dict[str, Any]]:
    """Create the incident ``payload`` describes, once per idempotency key (the API's, the
    CLI's and the console's create), with ``then`` in the same transaction when it is not a
    replay; returns the status and body, first or replayed."""

    async def action(session: AsyncSession) -> dict[str, Any]:
        view = await service.create_incident(
            session,
            ctx.events,
            actor=actor,
            page_id=payload.status_page_id,
            name=payload.name,
            incident_status=str(payload.incident_status),
            message=payload.message,
            notify_subscribers=payload.notify_subscribers,
            component_statuses=statuses_of(payload),
            now=ctx.clock.now(),
        )
        if then is not None:
            await then(session)
        return {"status_page_incident": view_body(view)}

    return await run_idempotent(
        ctx,
        "status_page_incidents",
        payload.idempotency_key,
        payload.model_dump(mode="json"),
        action,
    )


@router.get(
    "/v2/status_page_incidents/{status_page_incident_id}",
    operation_id="StatusPagesV2_ShowStatusPageIncident",
    summary="Show a status page incident",
    responses={200: {"model": StatusPageIncidentResult}},
)
async def show_status_page_incident(
    request: Request,
    status_page_incident_id: str,
    _key: Annotated[Principal, Depends(require())],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        view = await service.load_incident(session, status_page_incident_id)
    return json_response({"status_page_incident": view_body(view)})


@router.put(
    "/v2/status_page_incidents/{status_page_incident_id}",
    operation_id="StatusPagesV2_UpdateStatusPageIncident",
    summary="Rename a status page incident",
    responses={200: {"model": StatusPageIncidentResult}},
)
async def update_status_page_incident(
    request: Request,
    status_page_incident_id: str,
    payload: StatusPagesUpdateStatusPageIncidentPayloadV2,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE))],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        view = await service.rename_incident(
            session, status_page_incident_id, payload.name, ctx.clock.now(), actor=key.actor
        )
        body = {"status_page_incident": view_body(view)}
    return json_response(body)


@router.post(
    "/v2/status_page_incident_updates",
    status_code=201,
    operation_id="StatusPagesV2_CreateStatusPageIncidentUpdate",
    summary="Publish an update to a status page incident",
    responses={201: {"model": StatusPagesCreateStatusPageIncidentUpdateResultV2}},
)
async def create_status_page_incident_update(
    request: Request,
    payload: StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE))],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        row = await post_update(session, ctx, key.actor, payload)
        body = {"status_page_incident_update": update_v2(row)}
    return json_response(body, status_code=201)


async def post_update(
    session: AsyncSession,
    ctx: AppContext,
    actor: Actor,
    payload: StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
) -> IncidentUpdate:
    """Publish the update ``payload`` describes (the API's and the CLI's)."""
    return await service.add_update(
        session,
        ctx.events,
        actor=actor,
        incident_id=payload.status_page_incident_id,
        message=payload.message,
        notify_subscribers=payload.notify_subscribers,
        incident_status=str(payload.incident_status) if payload.incident_status else None,
        component_statuses=statuses_of(payload) if payload.component_statuses is not None else None,
        now=ctx.clock.now(),
    )


@router.post(
    "/v2/status_page_retrospective_incidents",
    status_code=201,
    operation_id="StatusPagesV2_CreateStatusPageRetrospectiveIncident",
    summary="Record a past, already resolved incident (never notifies)",
    responses={201: {"model": StatusPageIncidentResult}},
)
async def create_status_page_retrospective_incident(
    request: Request,
    payload: StatusPagesCreateStatusPageRetrospectiveIncidentPayloadV2,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE, extra_bucket=RETROSPECTIVE_BUCKET))],
) -> Response:
    ctx = context_of(request)
    updates = [
        retrospective.RetrospectiveUpdateInput(
            incident_status=str(u.incident_status),
            message=u.message,
            published_at=u.published_at,
            component_statuses=statuses_of(u),
        )
        for u in payload.updates
    ]

    async def action(session: AsyncSession) -> dict[str, Any]:
        view = await retrospective.create_retrospective_incident(
            session,
            actor=key.actor,
            page_id=payload.status_page_id,
            name=payload.name,
            updates=updates,
            now=ctx.clock.now(),
        )
        return {"status_page_incident": view_body(view)}

    status, body = await run_idempotent(
        ctx,
        "status_page_retrospective_incidents",
        payload.idempotency_key,
        payload.model_dump(mode="json"),
        action,
    )
    return json_response(body, status_code=status)
