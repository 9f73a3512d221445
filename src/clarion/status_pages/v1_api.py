"""``/v1/status-pages/{id}/incidents/{incident_id}/response-incidents``.

Clarion has no incident-response product to link status page incidents to, so the list is
always empty; it exists so that the SDK call succeeds (404 for an unknown page or incident).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select
from starlette.responses import Response

from clarion.api_keys.service import Principal
from clarion.errors import NotFound
from clarion.http.auth import ApiRoute, context_of, require
from clarion.http.json import json_response
from clarion.http.wire import ERROR_RESPONSES
from clarion.incidents.models import Incident

router = APIRouter(tags=["Status Pages V1"], responses=ERROR_RESPONSES, route_class=ApiRoute)


class StatusPageLinkedResponseIncidentV1(BaseModel):
    id: str
    linked_at: datetime


class StatusPagesListResponseIncidentsResultV1(BaseModel):
    incidents: list[StatusPageLinkedResponseIncidentV1]


@router.get(
    "/v1/status-pages/{id}/incidents/{incident_id}/response-incidents",
    operation_id="StatusPagesV1_ListResponseIncidents",
    summary="List response incidents linked to a status page incident (always empty)",
    responses={200: {"model": StatusPagesListResponseIncidentsResultV1}},
)
async def list_response_incidents(
    request: Request, id: str, incident_id: str, _key: Annotated[Principal, Depends(require())]
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        found = await session.scalar(
            select(Incident.id).where(Incident.id == incident_id, Incident.status_page_id == id)
        )
    if found is None:
        raise NotFound("No status page incident with this id on this status page")
    return json_response({"incidents": []})
