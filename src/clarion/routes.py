"""Every router of the app, in one place."""

from __future__ import annotations

from fastapi import FastAPI


def include_routes(app: FastAPI) -> None:
    from clarion.api_keys.api import router as identity_router
    from clarion.components.api import router as components_router
    from clarion.components.availability_api import router as availability_router
    from clarion.incidents.api import router as incidents_router
    from clarion.status_pages.api import router as status_pages_router
    from clarion.status_pages.v1_api import router as status_pages_v1_router

    app.include_router(status_pages_router)
    app.include_router(incidents_router)
    app.include_router(identity_router)

    # The public site is the router's fallback, so it never shadows a route added here.
    from clarion.public.routes import install as install_public_site

    install_public_site(app)

    from clarion.notifications.outbox import install as install_outbox
    from clarion.subscribers.routes import router as subscribers_router

    install_outbox(app.state.ctx)
    app.include_router(subscribers_router)
    app.include_router(components_router)
    app.include_router(availability_router)
    app.include_router(status_pages_v1_router)

    from clarion.maintenances.api import router as maintenances_router

    app.include_router(maintenances_router)
