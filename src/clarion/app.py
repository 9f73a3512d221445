"""``create_app(settings)``: the whole of Clarion on one ASGI app, assembled here explicitly.
No side effects on import.

Every request takes one path: the framework's middleware (``RequestMiddleware`` and whatever an
operator adds with ``app.add_middleware``), the router, one route. The public site is the
router's first route (``PublicRoute``); the API's routes follow, then the console's
(``/admin``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from clarion.clock import Clock
from clarion.context import AppContext
from clarion.errors import NotReady
from clarion.http.envelope import install_error_handlers
from clarion.http.json import json_response
from clarion.http.middleware import RequestMiddleware
from clarion.http.security import public_security_headers
from clarion.settings import Settings

log = logging.getLogger("clarion")

API_DESCRIPTION = (
    "Clarion's HTTP API: incident.io's Status Pages API, wire-compatible. Point incident.io's "
    "official SDK at Clarion's base URL and it works unchanged."
)


def routers() -> list[APIRouter]:
    """Every router of the app, in the order of the OpenAPI document."""
    from clarion.api_keys.api import router as identity
    from clarion.components.api import router as components
    from clarion.components.availability_api import router as availability
    from clarion.incidents.api import router as incidents
    from clarion.maintenances.api import router as maintenances
    from clarion.status_pages.api import router as status_pages
    from clarion.status_pages.v1_api import router as status_pages_v1
    from clarion.subscribers.routes import router as subscribers

    return [
        status_pages,
        incidents,
        identity,
        subscribers,
        components,
        availability,
        status_pages_v1,
        maintenances,
    ]


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    context: AppContext | None = None,
    run_worker: bool | None = None,
) -> FastAPI:
    from clarion.public.routes import PublicRoute, PublicSite

    settings = settings or (context.settings if context else Settings())
    ctx = context or AppContext.build(settings, clock)
    worker_enabled = settings.run_worker_in_serve if run_worker is None else run_worker

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if worker_enabled:
            from clarion.worker import run_forever

            task = asyncio.create_task(run_forever(ctx, stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=10)
            if context is None:
                await ctx.close()

    app = FastAPI(
        title="Clarion",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        redirect_slashes=False,
        strict_content_type=False,
        # Clarion ships no OpenTelemetry provider: do not ask for one on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    site = PublicSite(ctx)
    app.state.ctx = ctx
    app.state.site = site
    install_error_handlers(app, settings.max_body_bytes)
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        public_headers=public_security_headers(settings.public_frame_ancestors),
    )

    api = routers()
    for router in api:
        app.include_router(router)

    @app.get("/v1/openapiV3.json", include_in_schema=False)
    async def openapi_v3() -> Response:
        """The same document as ``/openapi.json`` (the SDK's ``utilities_v1_open_apiv3``)."""
        return json_response(app.openapi())

    # HEAD too: load balancers and uptime monitors often probe with it.
    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz(_request: Request) -> Response:
        """Liveness: the process answers (nothing else is checked; ``/readyz`` does)."""
        return json_response({"status": "ok"})

    @app.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False)
    async def readyz(request: Request) -> Response:
        """Readiness for load balancers (see ``health.readiness``)."""
        from clarion.health.readiness import check

        any_worker = request.query_params.get("workers") in ("1", "true")
        result = await check(ctx, worker_here=worker_enabled, any_worker=any_worker)
        if result.problems:
            raise NotReady(*result.problems)
        return json_response({"status": "ready", "checks": result.checks})

    # The console (``BASE_URL/admin``) after the API: it claims every path under /admin.
    from clarion.console.routes import console_routers

    console = console_routers()
    for router in console:
        app.include_router(router)

    # First: public traffic, by far the most, does not walk the API's routes.
    other_paths = [route.path for router in [*api, *console] for route in router.routes]  # type: ignore[attr-defined]
    app.router.routes.insert(0, PublicRoute(site, other_paths))
    return app


def openapi_document(app: FastAPI | None = None) -> dict[str, Any]:
    """The OpenAPI document exactly as served at ``/openapi.json``."""
    return (
        app
        or create_app(
            Settings(database_url="sqlite:///" + tempfile.gettempdir() + "/clarion-openapi.db"),
            run_worker=False,
        )
    ).openapi()
