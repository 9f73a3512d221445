"""Backfilling a past incident (``/admin/incidents/backfill``): an incident that already
happened, with its updates, recorded through the API's retrospective service (same rules:
every update in the past and in order, the last one resolved; nobody is notified).

The form has a few update rows (**Add an update** shows one more); rows left empty are
skipped. Each row's times are in the time zone chosen for the form, and its impact controls
say how each component was after that update.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from clarion.api_keys.service import PUBLISH_ROLE
from clarion.console import publishing
from clarion.console.forms import FORM_LEVEL, Form, read_form
from clarion.console.screens import (
    OPERATIONAL,
    PageChoice,
    choosing,
    impact_field,
    parse_local,
    prepared,
    show,
    zones,
)
from clarion.console.sessions import Visit
from clarion.console.web import ConsoleRoute, context_of, links_of, see_other, signed_in
from clarion.errors import ValidationFailed
from clarion.incidents.service import RESOLVED

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
ROWS = 3
MAX_ROWS = 20


def _rows(form: Form) -> int:
    try:
        wanted = int(form.get("rows", str(ROWS)))
    except ValueError:
        wanted = ROWS
    if form.get("action") == "more":
        wanted += 1
    return max(2, min(wanted, MAX_ROWS))


def _default_status(row: int, rows: int) -> str:
    if row == rows - 1:
        return RESOLVED
    return "investigating" if row == 0 else "monitoring"


async def _screen(
    request: Request, visit: Visit, form: Form, wanted: str, status: int = 200
) -> Response:
    found = await choosing(context_of(request), wanted, audience=False)
    prepared(form)
    rows = _rows(form)
    form.values["rows"] = [str(rows)]
    return await show(
        request,
        visit,
        "publishing/backfill.html",
        status,
        title="Backfill a past incident",
        active="incidents",
        form=form,
        page_options=found.options,
        choice=found.choice,
        zone=found.zone(form),
        zone_options=[(z, z) for z in zones()],
        rows=[(i, _default_status(i, rows)) for i in range(rows)],
    )


@router.get("/admin/incidents/backfill")
async def backfill_form(
    request: Request, visit: Annotated[Visit, Depends(signed_in())]
) -> Response:
    return await _screen(request, visit, Form(), request.query_params.get("status_page_id", ""))


def _updates(
    form: Form, choice: PageChoice | None, zone: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rows that were filled in, as the API's updates, and the API's field names mapped
    to the form's. Each row's impacts are sent where they differ from the row before."""
    updates: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    state: dict[str, str] = {}
    for row in range(_rows(form)):
        prefix = f"u{row}_"
        at_text = form.get(prefix + "at").strip()
        if not at_text and not form.get(prefix + "message").strip():
            continue
        index = len(updates)
        status = form.get(prefix + "status")
        statuses: list[dict[str, str]] = []
        for group in choice.groups if choice is not None else []:
            for cid, _name in group.components:
                value = form.get(impact_field(cid, prefix), OPERATIONAL)
                if value != state.get(cid, OPERATIONAL):
                    if not (status == RESOLVED and value == OPERATIONAL):
                        position = len(statuses)
                        name = f"updates[{index}].component_statuses[{position}]"
                        fields[name + ".component_id"] = impact_field(cid, prefix)
                        fields[name + ".component_status"] = impact_field(cid, prefix)
                        statuses.append({"component_id": cid, "component_status": value})
                    state[cid] = value
        published = parse_local(at_text, zone) if at_text else None
        updates.append(
            {
                "incident_status": status,
                "message": form.get(prefix + "message"),
                "published_at": published.isoformat() if published else (at_text or None),
                "component_statuses": statuses,
            }
        )
        for api, mine in (
            ("incident_status", "status"),
            ("message", "message"),
            ("published_at", "at"),
            ("component_statuses", "status"),
        ):
            fields[f"updates[{index}].{api}"] = prefix + mine
    return updates, fields


@router.post("/admin/incidents/backfill")
async def backfill(
    request: Request, visit: Annotated[Visit, Depends(signed_in(PUBLISH_ROLE))]
) -> Response:
    form = await read_form(request)
    wanted = form.get("status_page_id")
    if form.get("action") in ("more", "show"):
        return await _screen(request, visit, form, wanted)
    ctx = context_of(request)
    found = await choosing(ctx, wanted, audience=False)
    updates, fields = _updates(form, found.choice, found.zone(form))
    values: dict[str, Any] = {
        "status_page_id": found.page_id(wanted),
        "name": form.get("name"),
        "idempotency_key": form.get("idempotency_key"),
        "updates": updates,
    }
    try:
        incident_id = await publishing.backfill_incident(ctx, visit, values)
    except ValidationFailed as error:
        form.fail(error, {"idempotency_key": FORM_LEVEL, "updates": FORM_LEVEL, **fields})
        return await _screen(request, visit, form, wanted, status=422)
    return see_other(links_of(request)(f"incidents/{incident_id}"))
