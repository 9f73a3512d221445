"""Thin handler for a component's availability on a status page (any valid key)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from clarion.api_keys.service import Principal
from clarion.components import service
from clarion.components.schemas import (
    StatusPagesShowStatusPageComponentAvailabilityResultV2,
    availability_v2,
)
from clarion.errors import ValidationFailed
from clarion.http.auth import ApiRoute, context_of, require
from clarion.http.filters import parse_query_timestamp
from clarion.http.json import json_response
from clarion.http.wire import ERROR_RESPONSES

router = APIRouter(tags=["Status Pages V2"], responses=ERROR_RESPONSES, route_class=ApiRoute)

MAX_WINDOW = timedelta(days=366)


@router.get(
    "/v2/status_pages/{status_page_id}/components/{component_id}/availability",
    operation_id="StatusPagesV2_ShowStatusPageComponentAvailability",
    summary="Show a component's availability on a status page",
    responses={200: {"model": StatusPagesShowStatusPageComponentAvailabilityResultV2}},
)
async def show_status_page_component_availability(
    request: Request,
    status_page_id: str,
    component_id: str,
    start_at: Annotated[
        str,
        Query(
            description="Start of the window (RFC 3339)",
            json_schema_extra={"format": "date-time"},
        ),
    ],
    end_at: Annotated[
        str,
        Query(
            description="End of the window (RFC 3339); at most 366 days after start_at",
            json_schema_extra={"format": "date-time"},
        ),
    ],
    _key: Annotated[Principal, Depends(require())],
) -> Response:
    start = parse_query_timestamp(start_at, "start_at")
    end = parse_query_timestamp(end_at, "end_at")
    if start is None:
        raise ValidationFailed.at("is_required", "start_at is required", "start_at")
    if end is None:
        raise ValidationFailed.at("is_required", "end_at is required", "end_at")
    if end <= start:
        raise ValidationFailed.at("invalid_value", "end_at must be after start_at", "end_at")
    if end - start > MAX_WINDOW:
        raise ValidationFailed.at(
            "invalid_value", "The window may be at most 366 days long", "end_at"
        )
    ctx = context_of(request)
    async with ctx.db.read() as session:
        result = await service.component_availability(
            session,
            page_id=status_page_id,
            component_id=component_id,
            start_at=start,
            end_at=end,
            now=ctx.clock.now(),
        )
    if result.refresh is not None:
        await service.remember_downtime(ctx.db, result.refresh, ctx.clock.now())
    return json_response(
        {
            "availability": availability_v2(
                component_id=component_id,
                status_page_id=status_page_id,
                start_at=start,
                end_at=end,
                data_available_since=result.data_available_since,
                percent=result.percent,
            )
        }
    )
