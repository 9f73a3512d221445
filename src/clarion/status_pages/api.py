"""Thin handlers for ``/v2/status_pages`` and ``/v2/status_page_structures``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clarion.api_keys.service import Principal
from clarion.http.auth import ApiRoute, context_of, require
from clarion.http.json import json_response
from clarion.http.pagination import PageRequest, page_request, pagination_meta
from clarion.http.wire import ERROR_RESPONSES
from clarion.status_pages import service
from clarion.status_pages.schemas import (
    StatusPagesListStatusPagesResultV2,
    StatusPagesShowStatusPageResultV2,
    StatusPagesShowStatusPageStructureResultV2,
    status_page_v2,
    structure_v2,
)

router = APIRouter(tags=["Status Pages V2"], responses=ERROR_RESPONSES, route_class=ApiRoute)


@router.get(
    "/v2/status_pages",
    operation_id="StatusPagesV2_ListStatusPages",
    summary="List status pages",
    responses={200: {"model": StatusPagesListStatusPagesResultV2}},
)
async def list_status_pages(
    request: Request,
    page: Annotated[PageRequest, Depends(page_request)],
    _key: Annotated[Principal, Depends(require())],
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        pages, more = await service.list_pages(session, page.page_size, page.after)
    items = [status_page_v2(p, ctx.settings) for p in pages]
    return json_response(
        {"status_pages": items, "pagination_meta": pagination_meta(page, items, more)}
    )


@router.get(
    "/v2/status_pages/{status_page_id}",
    operation_id="StatusPagesV2_ShowStatusPage",
    summary="Show a status page",
    responses={200: {"model": StatusPagesShowStatusPageResultV2}},
)
async def show_status_page(
    request: Request, status_page_id: str, _key: Annotated[Principal, Depends(require())]
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        page = await service.get_page(session, status_page_id)
    return json_response({"status_page": status_page_v2(page, ctx.settings)})


@router.get(
    "/v2/status_page_structures/{status_page_id}",
    operation_id="StatusPagesV2_ShowStatusPageStructure",
    summary="Show a status page's structure",
    responses={200: {"model": StatusPagesShowStatusPageStructureResultV2}},
)
async def show_status_page_structure(
    request: Request, status_page_id: str, _key: Annotated[Principal, Depends(require())]
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        page = await service.get_page(session, status_page_id)
        nodes = await service.load_structure(session, page.id)
    return json_response(structure_v2(page, nodes))
