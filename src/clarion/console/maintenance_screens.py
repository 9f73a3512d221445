"""Scheduling maintenance (``/admin/maintenance/new``) and a window's screen
(``/admin/maintenance/<id>``: its timeline, **Post update**, **Complete**, **Cancel
maintenance**, its public permalink).

The window's times are typed in a time zone the operator picks (the page's by default) and
shown in UTC too; the services get UTC. Forms behave as on the incident screens: errors next
to their fields with what was typed kept, success redirects with a flash message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clarion.api_keys.service import PUBLISH_ROLE
from clarion.console import publishing
from clarion.console.forms import FORM_LEVEL, Form, read_form
from clarion.console.screens import (
    MAINTENANCE_IMPACTS,
    choosing,
    fingerprint,
    impact_field,
    impact_fields,
    local_input,
    new_key,
    page_of,
    parse_local,
    prepared,
    rounded_up,
    show,
    utc_time,
    zones,
)
from clarion.console.sessions import Visit
from clarion.console.web import ConsoleRoute, context_of, links_of, see_other, signed_in
from clarion.errors import ValidationFailed
from clarion.maintenances.service import affected_component_ids, load_maintenance
from clarion.maintenances.view import COMPLETE, SCHEDULED
from clarion.status_pages.schemas import public_url

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
SCHEDULE_FIELDS = {
    "idempotency_key": FORM_LEVEL,
    "start_at": "starts",
    "end_at": "ends",
    "affected_component_ids": "component",
}
UPDATE_FIELDS = {
    "idempotency_key": FORM_LEVEL,
    "status_page_maintenance_id": FORM_LEVEL,
    "maintenance_status": "maintenance_status",
    # Component statuses sent while completing: the status is what to change.
    "component_statuses": "maintenance_status",
}
COMPLETE_MESSAGE = "This maintenance is complete."


def _window(form: Form, zone: str) -> tuple[Any, Any]:
    """The form's Starts and Ends as UTC (what the API takes): None when left empty, the
    text as typed when it is no date and time (the API's own message says why)."""
    found = []
    for name in ("starts", "ends"):
        text = form.get(name).strip()
        found.append(parse_local(text, zone) or (text or None))
    return found[0], found[1]


async def _schedule_screen(
    request: Request, visit: Visit, form: Form, wanted: str, status: int = 200
) -> Response:
    ctx = context_of(request)
    found = await choosing(ctx, wanted)
    fresh = not form.values
    prepared(form)
    zone = found.zone(form)
    if fresh:
        start = rounded_up(ctx.clock.now() + timedelta(hours=1), 60)
        form.values["starts"] = [local_input(start, zone)]
        form.values["ends"] = [local_input(start + timedelta(hours=1), zone)]
    starts, ends = _window(form, zone)
    return await show(
        request,
        visit,
        "publishing/schedule.html",
        status,
        title="Schedule maintenance",
        active="maintenance",
        form=form,
        page_options=found.options,
        choice=found.choice,
        zone=zone,
        zone_options=[(z, z) for z in zones()],
        starts_utc=utc_time(starts) if not isinstance(starts, str) else "",
        ends_utc=utc_time(ends) if not isinstance(ends, str) else "",
        touched=set(form.getlist("component")),
    )


@router.get("/admin/maintenance/new")
async def schedule_form(
    request: Request, visit: Annotated[Visit, Depends(signed_in())]
) -> Response:
    wanted = request.query_params.get("status_page_id", "")
    return await _schedule_screen(request, visit, Form(), wanted)


@router.post("/admin/maintenance/new")
async def schedule(
    request: Request, visit: Annotated[Visit, Depends(signed_in(PUBLISH_ROLE))]
) -> Response:
    form = await read_form(request)
    wanted = form.get("status_page_id")
    if form.get("action") == "preview":
        return await _schedule_screen(request, visit, form, wanted)
    ctx = context_of(request)
    found = await choosing(ctx, wanted, audience=False)
    start_at, end_at = _window(form, found.zone(form))
    values: dict[str, Any] = {
        "status_page_id": found.page_id(wanted),
        "name": form.get("name"),
        "maintenance_status": SCHEDULED,
        "idempotency_key": form.get("idempotency_key"),
        "affected_component_ids": [c for c in form.getlist("component") if c],
        "start_at": start_at,
        "end_at": end_at,
        "message": form.get("message"),
        "notify_subscribers": form.checked("notify_subscribers"),
        "automate_maintenance_status": form.checked("automate"),
    }
    try:
        maintenance_id = await publishing.schedule_maintenance(ctx, visit, values)
    except ValidationFailed as error:
        fields = dict(SCHEDULE_FIELDS)
        for index in range(len(values["affected_component_ids"])):
            fields[f"affected_component_ids[{index}]"] = "component"
        form.fail(error, fields)
        return await _schedule_screen(request, visit, form, wanted, status=422)
    return see_other(links_of(request)(f"maintenance/{maintenance_id}"))


# -- the window's screen -----------------------------------------------------------------------


async def _window_screen(
    request: Request,
    visit: Visit,
    maintenance_id: str,
    form: Form | None = None,
    status: int = 200,
) -> Response:
    ctx = context_of(request)
    async with ctx.db.read() as session:
        view = await load_maintenance(session, maintenance_id)
    status_page, choice = await page_of(ctx, view.maintenance.status_page_id)
    m = view.maintenance
    return await show(
        request,
        visit,
        "publishing/window.html",
        status,
        title=m.name,
        active="maintenance",
        view=view,
        status_page=status_page,
        zone=status_page.time_zone,
        choice=choice,
        names={c: c for c in view.component_ids} | choice.component_names,
        touched=set(view.component_ids),
        form=prepared(form or Form()),
        complete_key=new_key(),
        complete_message=COMPLETE_MESSAGE,
        permalink=f"{public_url(status_page, ctx.settings)}/maintenance/{m.id}",
        is_complete=m.maintenance_status == COMPLETE,
    )


@router.get("/admin/maintenance/{maintenance_id}")
async def window(
    request: Request, maintenance_id: str, visit: Annotated[Visit, Depends(signed_in())]
) -> Response:
    return await _window_screen(request, visit, maintenance_id)


@router.post("/admin/maintenance/{maintenance_id}/updates")
async def post_update(
    request: Request,
    maintenance_id: str,
    visit: Annotated[Visit, Depends(signed_in(PUBLISH_ROLE))],
) -> Response:
    """An update (from **Post update**, or **Complete**: ``maintenance_status`` complete)."""
    form = await read_form(request)
    if form.get("action") == "preview":
        return await _window_screen(request, visit, maintenance_id, form=form)
    ctx = context_of(request)
    async with ctx.db.read() as session:
        affected = await affected_component_ids(session, maintenance_id)
    statuses = _set_by_hand(form, affected)
    values: dict[str, Any] = {
        "status_page_maintenance_id": maintenance_id,
        "message": form.get("message"),
        "notify_subscribers": form.checked("notify_subscribers"),
        "maintenance_status": form.get("maintenance_status") or None,
    }
    if statuses:
        values["component_statuses"] = statuses
    try:
        await publishing.post_maintenance_update(
            ctx, visit, form.get("idempotency_key"), fingerprint(form), values
        )
    except ValidationFailed as error:
        form.fail(error, {**UPDATE_FIELDS, **impact_fields(statuses, "component_statuses")})
        return await _window_screen(request, visit, maintenance_id, form=form, status=422)
    return see_other(links_of(request)(f"maintenance/{maintenance_id}") + "#timeline")


def _set_by_hand(form: Form, affected: list[str]) -> list[dict[str, str]]:
    """The component statuses the update form sets (in the window's order); a component
    left on "Follows the status" is not sent, so the status moves it."""
    allowed = {option for option, _ in MAINTENANCE_IMPACTS}
    return [
        {"component_id": cid, "component_status": value}
        for cid in affected
        if (value := form.get(impact_field(cid))) in allowed
    ]


@router.post("/admin/maintenance/{maintenance_id}/cancel")
async def cancel(
    request: Request,
    maintenance_id: str,
    visit: Annotated[Visit, Depends(signed_in(PUBLISH_ROLE))],
) -> Response:
    await publishing.cancel_maintenance(context_of(request), visit, maintenance_id)
    return see_other(links_of(request)("maintenance"))
