"""Declaring an incident (``/admin/incidents/new``) and an incident's screen
(``/admin/incidents/<id>``: its timeline, **Post update**, rename, its public permalink).

Forms post back to their own screen. A post that fails the API's validation shows the form
again with the service's message next to the field and what was typed kept; a successful one
redirects (303) to the incident's screen with a flash message. **Preview** (a submit button,
for browsers without JavaScript) shows the form again with the message rendered as the public
page will render it; with JavaScript, htmx renders it while typing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clarion.api_keys.service import PUBLISH_ROLE
from clarion.console import publishing
from clarion.console.forms import FORM_LEVEL, Form, read_form
from clarion.console.screens import (
    PageChoice,
    choosing,
    chosen_impacts,
    fingerprint,
    impact_fields,
    page_of,
    prepared,
    show,
)
from clarion.console.sessions import Visit
from clarion.console.web import ConsoleRoute, context_of, links_of, see_other, signed_in
from clarion.context import AppContext
from clarion.errors import ValidationFailed
from clarion.incidents.service import RESOLVED, IncidentView, load_incident
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
DECLARE_FIELDS = {"idempotency_key": FORM_LEVEL}


def _notify(form: Form) -> bool:
    return form.checked("notify_subscribers")


# -- declare -----------------------------------------------------------------------------------


async def _declare_screen(
    request: Request, visit: Visit, form: Form, wanted: str, status: int = 200
) -> Response:
    found = await choosing(context_of(request), wanted)
    prepared(form)
    touched: set[str] = set()
    if found.choice is not None:
        touched = {c["component_id"] for c in chosen_impacts(form, found.choice)}
    return await show(
        request,
        visit,
        "publishing/declare.html",
        status,
        title="Declare incident",
        active="incidents",
        form=form,
        page_options=found.options,
        choice=found.choice,
        touched=touched,
    )


@router.get("/admin/incidents/new")
async def declare_form(request: Request, visit: Annotated[Visit, Depends(signed_in())]) -> Response:
    wanted = request.query_params.get("status_page_id", "")
    return await _declare_screen(request, visit, Form(), wanted)


@router.post("/admin/incidents/new")
async def declare(
    request: Request, visit: Annotated[Visit, Depends(signed_in(PUBLISH_ROLE))]
) -> Response:
    form = await read_form(request)
    ctx = context_of(request)
    wanted = form.get("status_page_id")
    if form.get("action") == "preview":
        return await _declare_screen(request, visit, form, wanted)
    found = await choosing(ctx, wanted, audience=False)
    statuses = chosen_impacts(form, found.choice) if found.choice is not None else []
    values: dict[str, Any] = {
        "status_page_id": found.page_id(wanted),
        "name": form.get("name"),
        "incident_status": form.get("incident_status"),
        "message": form.get("message"),
        "notify_subscribers": _notify(form),
        "idempotency_key": form.get("idempotency_key"),
        "component_statuses": statuses,
    }
    try:
        incident_id = await publishing.declare_incident(ctx, visit, values)
    except ValidationFailed as error:
        form.fail(error, {**DECLARE_FIELDS, **impact_fields(statuses, "component_statuses")})
        return await _declare_screen(request, visit, form, wanted, status=422)
    return see_other(links_of(request)(f"incidents/{incident_id}"))


# -- the incident's screen ---------------------------------------------------------------------


@dataclass
class Shown:
    """An incident with its page, its page's parts and its components' current impacts."""

    view: IncidentView
    page: StatusPage
    choice: PageChoice

    @property
    def current(self) -> dict[str, str]:
        return {i.component_id: i.status for i in self.view.impacts if i.end_at is None}


async def _shown(ctx: AppContext, incident_id: str, *, audience: bool = True) -> Shown:
    async with ctx.db.read() as session:
        view = await load_incident(session, incident_id)
    return Shown(view, *await page_of(ctx, view.incident.status_page_id, audience=audience))


async def _incident_screen(
    request: Request,
    visit: Visit,
    incident_id: str,
    form: Form | None = None,
    rename: Form | None = None,
    status: int = 200,
) -> Response:
    ctx = context_of(request)
    found = await _shown(ctx, incident_id)
    view, choice, current = found.view, found.choice, found.current
    form = prepared(form or Form())
    touched = set(current) | {c["component_id"] for c in chosen_impacts(form, choice, base=current)}
    return await show(
        request,
        visit,
        "publishing/incident.html",
        status,
        title=view.incident.name,
        active="incidents",
        view=view,
        status_page=found.page,
        zone=found.page.time_zone,
        choice=choice,
        current=current,
        names={i.component_id: i.component_id for i in view.impacts} | choice.component_names,
        touched=touched,
        form=form,
        rename=rename or Form({"name": [view.incident.name]}),
        permalink=f"{public_url(found.page, ctx.settings)}/incidents/{view.incident.id}",
    )


@router.get("/admin/incidents/{incident_id}")
async def incident(
    request: Request, incident_id: str, visit: Annotated[Visit, Depends(signed_in())]
) -> Response:
    return await _incident_screen(request, visit, incident_id)


@router.post("/admin/incidents/{incident_id}/updates")
async def post_update(
    request: Request, incident_id: str, visit: Annotated[Visit, Depends(signed_in(PUBLISH_ROLE))]
) -> Response:
    form = await read_form(request)
    if form.get("action") == "preview":
        return await _incident_screen(request, visit, incident_id, form=form)
    ctx = context_of(request)
    found = await _shown(ctx, incident_id, audience=False)
    statuses = chosen_impacts(form, found.choice, base=found.current)
    if form.get("incident_status") == RESOLVED:
        # Resolving sets every component back to operational: only other moves are sent.
        statuses = [s for s in statuses if s["component_status"] != "operational"]
    values: dict[str, Any] = {
        "status_page_incident_id": incident_id,
        "message": form.get("message"),
        "notify_subscribers": _notify(form),
        "incident_status": form.get("incident_status") or None,
        "component_statuses": statuses or None,
    }
    try:
        await publishing.post_incident_update(
            ctx, visit, form.get("idempotency_key"), fingerprint(form), values
        )
    except ValidationFailed as error:
        fields = {
            **DECLARE_FIELDS,
            "status_page_incident_id": FORM_LEVEL,
            **impact_fields(statuses, "component_statuses"),
        }
        form.fail(error, fields)
        return await _incident_screen(request, visit, incident_id, form=form, status=422)
    return see_other(links_of(request)(f"incidents/{incident_id}") + "#timeline")


@router.post("/admin/incidents/{incident_id}/name")
async def rename(
    request: Request, incident_id: str, visit: Annotated[Visit, Depends(signed_in(PUBLISH_ROLE))]
) -> Response:
    form = await read_form(request)
    try:
        await publishing.rename_incident(context_of(request), visit, incident_id, form.get("name"))
    except ValidationFailed as error:
        form.fail(error)
        return await _incident_screen(request, visit, incident_id, rename=form, status=422)
    return see_other(links_of(request)(f"incidents/{incident_id}"))
