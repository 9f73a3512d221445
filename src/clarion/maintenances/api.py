"""Thin handlers for the maintenance window endpoints and their updates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from clarion.api_keys.service import PUBLISH_ROLE, Principal
from clarion.audit import Actor
from clarion.context import AppContext
from clarion.http.auth import ApiRoute, context_of, require
from clarion.http.filter_query import list_filters
from clarion.http.filters import ListFilters
from clarion.http.idempotency import Then, run_idempotent
from clarion.http.json import json_response
from clarion.http.pagination import PageRequest, page_request, pagination_meta
from clarion.http.wire import ERROR_RESPONSES
from clarion.maintenances import service
from clarion.maintenances.models import MaintenanceUpdate
from clarion.maintenances.schemas import (
    StatusPageMaintenanceResult,
    StatusPagesCreateStatusPageMaintenancePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdateResultV2,
    StatusPagesListStatusPageMaintenancesResultV2,
    StatusPagesUpdateStatusPageMaintenancePayloadV2,
    maintenance_update_v2,
    maintenance_v2,
)

router = APIRouter(
    tags=["Status Page Maintenances V2"], responses=ERROR_RESPONSES, route_class=ApiRoute
)


@router.get(
    "/v2/status_page_maintenances",
    operation_id="StatusPagesV2_ListStatusPageMaintenances",
    summary="List status page maintenance windows",
    responses={200: {"model": StatusPagesListStatusPageMaintenancesResultV2}},
)
async def list_status_page_maintenances(
    request: Request,
    status_page_id: Annotated[str, Query(min_length=1, max_length=64)],
    filters: Annotated[ListFilters, Depends(list_filters)],
    page: Annotated[PageRequest, Depends(page_request)],
    _key: Annotated[Principal, Depends(require())],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        views, more = await service.list_maintenances(
            session,
            page_id=status_page_id,
            filters=filters,
            limit=page.page_size,
            after=page.after,
            now=ctx.clock.now(),
        )
    items = [maintenance_v2(v) for v in views]
    return json_response(
        {"status_page_maintenances": items, "pagination_meta": pagination_meta(page, items, more)}
    )


@router.post(
    "/v2/status_page_maintenances",
    status_code=201,
    operation_id="StatusPagesV2_CreateStatusPageMaintenance",
    summary="Schedule a maintenance window",
    responses={201: {"model": StatusPageMaintenanceResult}},
)
async def create_status_page_maintenance(
    request: Request,
    payload: StatusPagesCreateStatusPageMaintenancePayloadV2,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE))],
) -> Response:
    status, body = await create_window(context_of(request), key.actor, payload)
    return json_response(body, status_code=status)


async def create_window(
    ctx: AppContext,
    actor: Actor,
    payload: StatusPagesCreateStatusPageMaintenancePayloadV2,
    then: Then | None = None,
) -> tuple[int, dict[str, Any]]:
    """Schedule the window ``payload`` describes, once per idempotency key (the API's, the
    CLI's and the console's create), with ``then`` in the same transaction when it is not a
    replay; returns the status and body, first or replayed."""

    async def action(session: AsyncSession) -> dict[str, Any]:
        view = await service.create_maintenance(
            session,
            ctx.events,
            actor=actor,
            page_id=payload.status_page_id,
            name=payload.name,
            maintenance_status=str(payload.maintenance_status),
            affected_component_ids=payload.affected_component_ids,
            start_at=payload.start_at,
            end_at=payload.end_at,
            message=payload.message,
            notify_subscribers=payload.notify_subscribers,
            automate=payload.automate_maintenance_status,
            now=ctx.clock.now(),
        )
        if then is not None:
            await then(session)
        return {"status_page_maintenance": maintenance_v2(view)}

    return await run_idempotent(
        ctx,
        "status_page_maintenances",
        payload.idempotency_key,
        payload.model_dump(mode="json"),
        action,
    )


@router.get(
    "/v2/status_page_maintenances/{status_page_maintenance_id}",
    operation_id="StatusPagesV2_ShowStatusPageMaintenance",
    summary="Show a status page maintenance window",
    responses={200: {"model": StatusPageMaintenanceResult}},
)
async def show_status_page_maintenance(
    request: Request,
    status_page_maintenance_id: str,
    _key: Annotated[Principal, Depends(require())],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        view = await service.load_maintenance(session, status_page_maintenance_id)
    return json_response({"status_page_maintenance": maintenance_v2(view)})


@router.put(
    "/v2/status_page_maintenances/{status_page_maintenance_id}",
    operation_id="StatusPagesV2_UpdateStatusPageMaintenance",
    summary="Rename or reschedule a maintenance window",
    responses={200: {"model": StatusPageMaintenanceResult}},
)
async def update_status_page_maintenance(
    request: Request,
    status_page_maintenance_id: str,
    payload: StatusPagesUpdateStatusPageMaintenancePayloadV2,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE))],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        view = await service.reschedule_maintenance(
            session,
            status_page_maintenance_id,
            actor=key.actor,
            name=payload.name,
            start_at=payload.start_at,
            end_at=payload.end_at,
            now=ctx.clock.now(),
        )
        body = {"status_page_maintenance": maintenance_v2(view)}
    return json_response(body)


@router.delete(
    "/v2/status_page_maintenances/{status_page_maintenance_id}",
    status_code=204,
    operation_id="StatusPagesV2_DeleteStatusPageMaintenance",
    summary="Delete a maintenance window",
    responses={204: {"description": "Deleted"}},
)
async def delete_status_page_maintenance(
    request: Request,
    status_page_maintenance_id: str,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE))],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        await service.delete_maintenance(
            session, status_page_maintenance_id, ctx.clock.now(), actor=key.actor
        )
    return Response(status_code=204)


@router.post(
    "/v2/status_page_maintenance_updates",
    status_code=201,
    operation_id="StatusPagesV2_CreateStatusPageMaintenanceUpdate",
    summary="Publish an update to a maintenance window",
    responses={201: {"model": StatusPagesCreateStatusPageMaintenanceUpdateResultV2}},
)
async def create_status_page_maintenance_update(
    request: Request,
    payload: StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
    key: Annotated[Principal, Depends(require(PUBLISH_ROLE))],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        row = await post_window_update(session, ctx, key.actor, payload)
        body = {"status_page_maintenance_update": maintenance_update_v2(row)}
    return json_response(body, status_code=201)


async def post_window_update(
    session: AsyncSession,
    ctx: AppContext,
    actor: Actor,
    payload: StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
) -> MaintenanceUpdate:
    """Publish the update ``payload`` describes (the API's and the CLI's)."""
    statuses = None
    if payload.component_statuses is not None:
        statuses = [
            service.ComponentStatusInput(c.component_id, str(c.component_status))
            for c in payload.component_statuses
        ]
    return await service.add_update(
        session,
        ctx.events,
        actor=actor,
        maintenance_id=payload.status_page_maintenance_id,
        message=payload.message,
        notify_subscribers=payload.notify_subscribers,
        maintenance_status=str(payload.maintenance_status) if payload.maintenance_status else None,
        component_statuses=statuses,
        now=ctx.clock.now(),
    )
