"""What the publishing screens read and show: a page's components grouped as on the page, who
would be notified, times in a page's zone, Markdown as the public page renders it (and its
preview, ``POST /admin/preview``, for htmx), and reading a form's values for the services.
"""

from __future__ import annotations

import json
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse, Response

from clarion.api_keys.service import PUBLISH_ROLE
from clarion.console.forms import Form, read_form
from clarion.console.parts import ComponentGroup
from clarion.console.sessions import Visit
from clarion.console.web import ConsoleRoute, page, signed_in
from clarion.context import AppContext
from clarion.errors import NotFound
from clarion.notifications.email_content import format_moment, page_zone
from clarion.public.markdown import render_markdown
from clarion.status_pages.models import StatusPage
from clarion.subscribers.models import Subscription, active_subscriptions_of
from clarion.timeutil import to_utc

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

INCIDENT_STATUSES = [
    ("investigating", "Investigating"),
    ("identified", "Identified"),
    ("monitoring", "Monitoring"),
    ("resolved", "Resolved"),
]
IMPACTS = [
    ("operational", "Operational"),
    ("degraded_performance", "Degraded performance"),
    ("partial_outage", "Partial outage"),
    ("full_outage", "Full outage"),
]
#: A component's status set by hand in a maintenance update (left empty, it follows the
#: window's status).
MAINTENANCE_IMPACTS = [
    ("operational", "Operational"),
    ("under_maintenance", "Under maintenance"),
]
MAINTENANCE_STATUSES = [
    ("maintenance_scheduled", "Scheduled"),
    ("maintenance_in_progress", "In progress"),
    ("maintenance_complete", "Completed"),
]
OPERATIONAL = "operational"


@dataclass
class Audience:
    """Who hears about a write on a page: its active subscribers."""

    #: Active subscribers who hear about everything on the page.
    whole_page: int
    #: Active subscribers who follow only some components: each set of component ids
    #: followed, with how many follow exactly that set.
    partial: list[tuple[frozenset[str], int]]

    @property
    def following_some(self) -> int:
        """How many active subscribers follow only some components."""
        return sum(count for _, count in self.partial)

    def notified(self, component_ids: set[str]) -> int:
        """How many active subscribers hear about a write touching ``component_ids``."""
        return self.whole_page + sum(
            count for ids, count in self.partial if not ids.isdisjoint(component_ids)
        )


@dataclass
class PageChoice:
    """A status page to publish on, with its components and, for a screen that shows how
    many would be notified, its ``audience`` (None when not read: a post only needs the
    components, and counting every subscriber of a large page costs more than the write)."""

    page: StatusPage
    groups: list[ComponentGroup]
    audience: Audience | None = None

    @property
    def component_names(self) -> dict[str, str]:
        return {cid: name for g in self.groups for cid, name in g.components}


async def pages(session: AsyncSession) -> list[StatusPage]:
    """Every status page, by name."""
    return list(await session.scalars(select(StatusPage).order_by(StatusPage.name, StatusPage.id)))


async def audience_of(session: AsyncSession, page_id: str) -> Audience:
    """One grouped count: a page has many subscribers but few different component lists."""
    followed = cast(Subscription.component_ids, Text)
    whole, partial = 0, []
    for listed, count in await session.execute(
        select(followed, func.count()).where(*active_subscriptions_of(page_id)).group_by(followed)
    ):
        ids = frozenset(json.loads(listed) or ()) if listed else frozenset()
        if ids:
            partial.append((ids, int(count)))
        else:
            whole += int(count)
    return Audience(whole, partial)


async def page_choice(
    ctx: AppContext, session: AsyncSession, page: StatusPage, *, audience: bool
) -> PageChoice:
    """``page`` with its components, and with its ``audience`` when asked for."""
    groups = await ctx.page_parts.groups(session, page)
    found = await audience_of(session, page.id) if audience else None
    return PageChoice(page, groups, found)


def chosen_page(found: list[StatusPage], wanted: str) -> StatusPage | None:
    """The page whose id is ``wanted``, else the first one (None without pages)."""
    return next((p for p in found if p.id == wanted), found[0] if found else None)


@dataclass
class Choosing:
    """A form's status page: every page (for its select), the one chosen, and its parts."""

    pages: list[StatusPage]
    page: StatusPage | None
    choice: PageChoice | None

    @property
    def options(self) -> list[tuple[str, str]]:
        return [(p.id, p.name) for p in self.pages]

    def page_id(self, wanted: str) -> str:
        return wanted or (self.page.id if self.page is not None else "")

    def zone(self, form: Form) -> str:
        """The zone the form's times are in: the one chosen, else the page's."""
        return form.get("time_zone") or (self.page.time_zone if self.page else "Etc/UTC")


async def choosing(ctx: AppContext, wanted: str, *, audience: bool = True) -> Choosing:
    """The form's page (``wanted``, else the first): with its ``audience`` for a screen,
    without it for a post."""
    async with ctx.db.read() as session:
        found = await pages(session)
        chosen = chosen_page(found, wanted)
        choice = None
        if chosen is not None:
            choice = await page_choice(ctx, session, chosen, audience=audience)
    return Choosing(found, chosen, choice)


async def page_of(
    ctx: AppContext, page_id: str, *, audience: bool = True
) -> tuple[StatusPage, PageChoice]:
    """The page an incident or window is on, with its parts (its ``audience`` when asked
    for)."""
    async with ctx.db.read() as session:
        status_page = await session.get(StatusPage, page_id)
        if status_page is None:
            raise NotFound("No status page with this id")
        return status_page, await page_choice(ctx, session, status_page, audience=audience)


async def show(
    request: Request, visit: Visit, template: str, status: int, **values: Any
) -> Response:
    """A publishing screen: ``template`` with ``values``, the helpers and whether the user
    may publish, answered with ``status`` (422 after a refused post)."""
    form: Form = values["form"]
    message = form.get(values.pop("preview_of", "message"))
    response = await page(
        request,
        template,
        visit,
        rendered=markdown(message) if message.strip() else "",
        can_publish=visit.has(PUBLISH_ROLE),
        **helpers(),
        **values,
    )
    response.status_code = status
    return response


def new_key() -> str:
    """A fresh idempotency key for a form."""
    return secrets.token_urlsafe(18)


def prepared(form: Form) -> Form:
    """``form`` ready to show: a form not posted yet gets its defaults (subscribers are
    notified); every form gets an idempotency key, kept across its re-renders."""
    if not form.values:
        form.values["notify_subscribers"] = ["on"]
    if not form.get("idempotency_key"):
        form.values["idempotency_key"] = [new_key()]
    return form


def fingerprint(form: Form) -> dict[str, Any]:
    """What identifies a posted form (for its idempotency key): its fields, but not its
    CSRF token or the button that sent it."""
    return {k: v for k, v in sorted(form.values.items()) if k not in ("csrf_token", "action")}


def markdown(text: str) -> Markup:
    """``text`` as the public page renders an update's message."""
    return Markup(render_markdown(text))  # noqa: S704 (escaped and cleaned by render_markdown)


def local_time(moment: datetime | None, zone_name: str | None) -> Markup:
    """A moment in the page's zone (``Sat 5 Dec 2026, 03:00 CET (UTC+01:00)``), as ``<time>``."""
    if moment is None:
        return Markup("")
    utc = to_utc(moment)
    return Markup('<time datetime="{}">{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), format_moment(utc, page_zone(zone_name))
    )


def utc_time(moment: datetime | None) -> str:
    return "" if moment is None else to_utc(moment).strftime("%a %-d %b %Y, %H:%M UTC")


@lru_cache(maxsize=1)
def zones() -> list[str]:
    """Every IANA zone this system knows, by name."""
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


def parse_local(text: str, zone_name: str) -> datetime | None:
    """A ``datetime-local`` value (``2026-12-05T03:00``) in the zone, as UTC; None if it is
    not one. A time a clock change skips or repeats is read with the offset before it."""
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return to_utc(naive)
    return to_utc(naive.replace(tzinfo=page_zone(zone_name)))


def local_input(moment: datetime | None, zone_name: str) -> str:
    """``moment`` as a ``datetime-local`` value in the zone."""
    if moment is None:
        return ""
    return to_utc(moment).astimezone(page_zone(zone_name)).strftime("%Y-%m-%dT%H:%M")


def rounded_up(moment: datetime, minutes: int = 15) -> datetime:
    """``moment`` rounded up to the next multiple of ``minutes``."""
    base = moment.replace(second=0, microsecond=0)
    return base + timedelta(minutes=(-base.minute) % minutes or minutes)


def helpers() -> dict[str, Any]:
    """What the publishing templates call."""
    return {
        "markdown": markdown,
        "local_time": local_time,
        "utc_time": utc_time,
        "incident_statuses": INCIDENT_STATUSES,
        "impacts": IMPACTS,
        "maintenance_statuses": MAINTENANCE_STATUSES,
        "maintenance_impacts": MAINTENANCE_IMPACTS,
    }


def impact_field(component_id: str, prefix: str = "") -> str:
    return f"{prefix}impact-{component_id}"


def chosen_impacts(
    form: Form, choice: PageChoice, prefix: str = "", base: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """The component statuses the form sets, in the page's order: each component whose
    control differs from ``base`` (its current status; operational when not given)."""
    base = base or {}
    found = []
    for group in choice.groups:
        for cid, _name in group.components:
            value = form.get(impact_field(cid, prefix))
            if value and value != base.get(cid, OPERATIONAL):
                found.append({"component_id": cid, "component_status": value})
    return found


def impact_fields(
    statuses: list[dict[str, str]], api_name: str, prefix: str = ""
) -> dict[str, str]:
    """The API's ``<api_name>[i].component_id`` and ``.component_status`` fields, mapped to
    the form's control of that component."""
    fields = {}
    for index, entry in enumerate(statuses):
        control = impact_field(entry["component_id"], prefix)
        fields[f"{api_name}[{index}].component_id"] = control
        fields[f"{api_name}[{index}].component_status"] = control
    return fields


@router.post("/admin/preview")
async def preview(request: Request, _visit: Annotated[Visit, Depends(signed_in())]) -> Response:
    """The message field's Markdown as the public page will show it (htmx swaps it in)."""
    form = await read_form(request)
    text = form.get(form.get("preview_of", "message"))
    if not text.strip():
        return HTMLResponse('<p class="muted">Nothing to preview yet.</p>')
    return HTMLResponse(str(markdown(text)))
