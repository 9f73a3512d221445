"""Thin handlers for ``/v2/status_page_components`` (reads: any key; writes: manage_settings)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clarion.api_keys.service import CONFIGURE_ROLE, Principal
from clarion.components import service
from clarion.components.schemas import (
    StatusPageComponentResult,
    StatusPageComponentsCreatePayloadV2,
    StatusPageComponentsListResultV2,
    StatusPageComponentsUpdatePayloadV2,
    component_v2,
)
from clarion.http.auth import ApiRoute, context_of, require
from clarion.http.json import json_response
from clarion.http.wire import ERROR_RESPONSES

router = APIRouter(
    tags=["Status Page Components V2"], responses=ERROR_RESPONSES, route_class=ApiRoute
)


@router.get(
    "/v2/status_page_components",
    operation_id="StatusPageComponentsV2_List",
    summary="List status page components",
    responses={200: {"model": StatusPageComponentsListResultV2}},
)
async def list_status_page_components(
    request: Request, _key: Annotated[Principal, Depends(require())]
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        components = await service.list_components(session)
    return json_response({"status_page_components": [component_v2(c) for c in components]})


@router.post(
    "/v2/status_page_components",
    status_code=201,
    operation_id="StatusPageComponentsV2_Create",
    summary="Create a status page component",
    responses={201: {"model": StatusPageComponentResult}},
)
async def create_status_page_component(
    request: Request,
    payload: StatusPageComponentsCreatePayloadV2,
    key: Annotated[Principal, Depends(require(CONFIGURE_ROLE))],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        component = await service.create_component(
            session,
            actor=key.actor,
            name=payload.name,
            description=payload.description,
            now=ctx.clock.now(),
        )
        body = {"status_page_component": component_v2(component)}
    return json_response(body, status_code=201)


@router.get(
    "/v2/status_page_components/{id}",
    operation_id="StatusPageComponentsV2_Show",
    summary="Show a status page component",
    responses={200: {"model": StatusPageComponentResult}},
)
async def show_status_page_component(
    request: Request, id: str, _key: Annotated[Principal, Depends(require())]
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        component = await service.get_component(session, id)
    return json_response({"status_page_component": component_v2(component)})


@router.put(
    "/v2/status_page_components/{id}",
    operation_id="StatusPageComponentsV2_Update",
    summary="Update a status page component",
    responses={200: {"model": StatusPageComponentResult}},
)
async def update_status_page_component(
    request: Request,
    id: str,
    payload: StatusPageComponentsUpdatePayloadV2,
    key: Annotated[Principal, Depends(require(CONFIGURE_ROLE))],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        component = await service.update_component(
            session,
            id,
            actor=key.actor,
            name=payload.name,
            description=payload.description,
            now=ctx.clock.now(),
        )
        body = {"status_page_component": component_v2(component)}
    return json_response(body)


@router.delete(
    "/v2/status_page_components/{id}",
    status_code=204,
    operation_id="StatusPageComponentsV2_Destroy",
    summary="Archive a status page component",
    responses={204: {"description": "Archived"}},
)
async def destroy_status_page_component(
    request: Request, id: str, key: Annotated[Principal, Depends(require(CONFIGURE_ROLE))]
) -> Response:
    ctx = context_of(request)
    async with ctx.db.write() as session:
        await service.archive_component(session, id, ctx.clock.now(), actor=key.actor)
    return Response(status_code=204)
