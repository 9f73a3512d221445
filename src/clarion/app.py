"""``create_app(settings)``: the whole of Clarion on one ASGI app. No side effects on import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from clarion.clock import Clock
from clarion.context import AppContext
from clarion.errors import ClarionError, ErrorDetail
from clarion.http.envelope import error_response, install_error_handlers
from clarion.http.json import json_response
from clarion.http.middleware import ApiMiddleware
from clarion.settings import Settings

log = logging.getLogger("clarion")

API_DESCRIPTION = (
    "Clarion's HTTP API: incident.io's Status Pages API, wire-compatible. Point incident.io's "
    "official SDK at Clarion's base URL and it works unchanged."
)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    context: AppContext | None = None,
    run_worker: bool | None = None,
) -> FastAPI:
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
        # FastAPI's built-in OpenTelemetry hooks ask on every request whether a provider is
        # configured (about 3 us, a tenth of a cached public answer); Clarion ships none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(ApiMiddleware, max_body_bytes=settings.max_body_bytes)

    import clarion.incidents.create_fast
    import clarion.incidents.list_fast  # noqa: F401 - they register their fast paths
    from clarion.http.fast import install as install_fast_api
    from clarion.routes import include_routes

    # The API's fast layer first, so that the public site's (installed by ``include_routes``)
    # ends up outermost: public traffic, by far the most, passes one layer.
    install_fast_api(app)
    include_routes(app)

    @app.get("/v1/openapiV3.json", include_in_schema=False)
    async def openapi_v3() -> Response:
        """The same document as ``/openapi.json`` (the SDK's ``utilities_v1_open_apiv3``)."""
        return json_response(app.openapi())

    # HEAD too: load balancers and uptime monitors often probe with it.
    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz(request: Request) -> Response:
        if await ctx.db.ping():
            return json_response({"status": "ok"})
        error = ClarionError(ErrorDetail("database_unavailable", "The database does not answer"))
        error.status = 503
        error.type = "service_unavailable"
        return error_response(request.scope, error)

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
