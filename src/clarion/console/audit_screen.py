"""The **Audit log** screen (``GET /admin/audit``): the audit log's entries, newest first, with
filters for the actor, the object (a type or an id), the status page and a time range typed in
a time zone the operator picks, and "Older entries" for the next page. Any signed-in user may
read it (it is a read: viewing it records nothing).

The filters are a GET form, so a filtered view is a link that can be shared and works without
JavaScript; they are read with ``audit.service.list_entries``, as ``clarion audit list`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from clarion.audit.models import AuditEntry
from clarion.audit.service import AuditFilter, list_entries
from clarion.console.forms import Form
from clarion.console.screens import pages, parse_local, zones
from clarion.console.sessions import Visit
from clarion.console.web import ConsoleRoute, context_of, links_of, page, signed_in
from clarion.errors import ValidationFailed
from clarion.incidents.models import Incident
from clarion.maintenances.models import Maintenance

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Entries per page.
PAGE_SIZE = 50
#: The filters' fields, as the form (and the "Older entries" link) names them.
FILTERS = ("actor", "object", "page", "since", "until", "time_zone")
#: Longest filter value read (names are at most 320 characters, ids 64).
MAX_FILTER = 320
#: Objects with a console screen: their model and the screen's path.
SCREENS: dict[str, tuple[type[Incident] | type[Maintenance], str]] = {
    "incident": (Incident, "incidents"),
    "maintenance": (Maintenance, "maintenance"),
}
TIME_MESSAGE = "Enter a date and time, such as 2026-12-04T09:30."


@dataclass(frozen=True)
class Line:
    """One entry on the screen: ``link`` the object's console screen, when it has one."""

    entry: AuditEntry
    page_name: str | None
    link: str | None


def _filters(request: Request) -> tuple[Form, AuditFilter]:
    """The form as sent (``?actor=…&since=…``) and what it asks for; errors next to the
    fields that cannot be read."""
    query = request.query_params
    form = Form({name: [query.get(name, "").strip()[:MAX_FILTER]] for name in FILTERS})
    zone = form.get("time_zone") or "UTC"
    if zone not in zones():
        form.add_error("time_zone", "Choose a time zone from the list.")
        zone = "UTC"
    moments: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        text = form.get(name)
        moments[name] = parse_local(text, zone) if text else None
        if text and moments[name] is None:
            form.add_error(name, TIME_MESSAGE)
    since, until = moments["since"], moments["until"]
    if since is not None and until is not None and until <= since:
        form.add_error("until", "Until must be later than Since.")
    where = AuditFilter(
        actor=form.get("actor") or None,
        object=form.get("object") or None,
        status_page_id=form.get("page") or None,
        since=since,
        until=until,
        before=query.get("before", "")[:MAX_FILTER] or None,
        limit=PAGE_SIZE,
    )
    return form, where


async def _existing(session: AsyncSession, rows: list[AuditEntry]) -> set[tuple[str, str]]:
    """The (type, id) of the entries' objects that have a console screen and still exist."""
    found: set[tuple[str, str]] = set()
    for object_type, (model, _path) in SCREENS.items():
        ids = {r.object_id for r in rows if r.object_type == object_type}
        if ids:
            live = await session.scalars(select(model.id).where(model.id.in_(ids)))
            found |= {(object_type, i) for i in live}
    return found


@router.get("/admin/audit")
async def audit(request: Request, visit: Annotated[Visit, Depends(signed_in())]) -> Response:
    ctx = context_of(request)
    form, where = _filters(request)
    lines: list[Line] = []
    more = False
    async with ctx.db.read() as session:
        all_pages = await pages(session)
        if not form.has_errors:
            try:
                rows, more = await list_entries(session, where)
            except ValidationFailed:  # an "Older entries" link to an entry that is gone
                form.add_error("", "That page of the audit log no longer exists: start again.")
                rows = []
            live = await _existing(session, rows)
            names = {p.id: p.name for p in all_pages}
            links = links_of(request)
            for row in rows:
                link = None
                if (row.object_type, row.object_id) in live:
                    link = links(f"{SCREENS[row.object_type][1]}/{row.object_id}")
                lines.append(Line(row, names.get(row.status_page_id or ""), link))
    older = None
    if more and lines:
        kept = {name: form.get(name) for name in FILTERS if form.get(name)}
        older = "?" + urlencode({**kept, "before": lines[-1].entry.id})
    return await page(
        request,
        "audit.html",
        visit,
        status=422 if form.has_errors else 200,
        title="Audit log",
        active="audit",
        form=form,
        lines=lines,
        older=older,
        filtered=any(form.get(name) for name in FILTERS if name != "time_zone"),
        page_options=[("", "All pages")] + [(p.id, p.name) for p in all_pages],
        zone_options=[(z, z) for z in zones()],
    )
