"""The console's routers, in the order the app includes them: its screens, its assets
(``/admin/static/<name>``, kept by browsers for a year: their links carry their digest) and
last the console's own "not found" page for every other path under ``/admin``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from clarion.console import (
    account,
    audit_screen,
    backfill,
    incident_screens,
    lists,
    maintenance_screens,
    overview,
    screens,
)
from clarion.console.web import (
    STATIC_CACHE_CONTROL,
    ConsoleRoute,
    links_of,
    render,
    see_other,
    static_asset,
)

assets = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
fallback = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@assets.get("/admin/static/{name}")
async def asset(name: Annotated[str, Path()]) -> Response:
    found = static_asset(name)
    if found is None:
        return Response("Not found", 404, media_type="text/plain")
    body, kind, _digest = found
    return Response(body, media_type=kind, headers={"Cache-Control": STATIC_CACHE_CONTROL})


@fallback.api_route("/admin/{rest:path}", methods=METHODS)
async def not_found(request: Request, rest: str) -> Response:
    if rest == "":
        return see_other(links_of(request)())
    return render(
        request,
        "message.html",
        status=404,
        title="Not found",
        messages=["There is no console page at this address."],
    )


def console_routers() -> list[APIRouter]:
    """Every router of the console; the fallback comes last."""
    return [
        account.router,
        overview.router,
        lists.router,
        audit_screen.router,
        screens.router,
        backfill.router,
        incident_screens.router,
        maintenance_screens.router,
        assets,
        fallback,
    ]
