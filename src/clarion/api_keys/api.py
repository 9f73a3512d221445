"""``GET /v1/identity``: which key is this and what may it do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from clarion.api_keys.service import Principal
from clarion.http.auth import ApiRoute, context_of, require
from clarion.http.json import json_response
from clarion.http.wire import ERROR_RESPONSES

router = APIRouter(tags=["Utilities V1"], responses=ERROR_RESPONSES, route_class=ApiRoute)


class IdentityTeamV1(BaseModel):
    id: str
    name: str


class IdentityV1(BaseModel):
    name: str
    dashboard_url: str
    roles: list[str]
    team_roles: list[str]
    teams: list[IdentityTeamV1]


class UtilitiesIdentityResultV1(BaseModel):
    identity: IdentityV1


@router.get(
    "/v1/identity",
    operation_id="UtilitiesV1_Identity",
    summary="Identity of the API key",
    responses={200: {"model": UtilitiesIdentityResultV1}},
)
async def identity(request: Request, key: Annotated[Principal, Depends(require())]) -> Response:
    ctx = context_of(request)
    return json_response(
        {
            "identity": {
                "name": key.name,
                "dashboard_url": ctx.settings.dashboard_url or ctx.settings.base_url,
                "roles": list(key.roles),
                "team_roles": [],
                "teams": [],
            }
        }
    )
