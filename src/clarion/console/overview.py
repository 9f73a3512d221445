"""The console's home (``GET /admin``): each status page as its readers see it now, ongoing
incidents and maintenance, upcoming windows, subscriber counts, and the health of
notifications (deliveries failed or dead, with **Retry** for ``manage_settings``:
``POST /admin/notifications/retry``).

Each page's state is the public site's own snapshot (shared with it per content version), so
the console and the page never disagree; the counts are SQL aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from clarion.api_keys.service import CONFIGURE_ROLE
from clarion.console.forms import read_form
from clarion.console.publishing import actor_of
from clarion.console.sessions import Visit, set_flash
from clarion.console.web import ConsoleRoute, context_of, links_of, page, see_other, signed_in
from clarion.context import AppContext
from clarion.maintenances.view import MaintenanceView
from clarion.notifications import admin
from clarion.notifications.models import DEAD, FAILED, OutboxMessage
from clarion.public.html import headline, windows_now
from clarion.public.routes import PublicSite, load_detached_snapshot
from clarion.public.snapshot import PageSnapshot
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url
from clarion.subscribers.models import Subscription, active_subscriptions_of

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
#: The overview shows at most this many pages, and this many problem deliveries.
MAX_PAGES = 100
PROBLEMS_SHOWN = 10


@dataclass
class PageState:
    """One status page on the overview."""

    snap: PageSnapshot
    headline: str
    url: str
    in_progress: list[MaintenanceView]
    upcoming: list[MaintenanceView]
    #: Active (confirmed, not unsubscribed, not disabled) subscriptions by channel.
    subscribers: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> dict[str, str]:
        return {cid: c.name for cid, c in self.snap.components_by_id.items()}


@dataclass
class Health:
    """Notification deliveries that did not go out: counts, and the latest few."""

    failed: int
    dead: int
    latest: list[tuple[OutboxMessage, str]]

    @property
    def problems(self) -> int:
        return self.failed + self.dead


async def _subscriber_counts(session: AsyncSession) -> dict[str, dict[str, int]]:
    rows = await session.execute(
        select(Subscription.status_page_id, Subscription.channel, func.count())
        .where(*active_subscriptions_of(Subscription.status_page_id))
        .group_by(Subscription.status_page_id, Subscription.channel)
    )
    counts: dict[str, dict[str, int]] = {}
    for page_id, channel, count in rows.all():
        counts.setdefault(page_id, {})[channel] = count
    return counts


async def load_pages(ctx: AppContext, site: PublicSite, now: datetime) -> list[PageState]:
    """Every status page (up to ``MAX_PAGES``, by name) as the public site shows it now."""
    found: list[PageState] = []
    async with ctx.db.read() as session:
        counts = await _subscriber_counts(session)
        pages = list(
            await session.scalars(select(StatusPage).order_by(StatusPage.name).limit(MAX_PAGES))
        )
        for status_page in pages:

            async def read(one: StatusPage = status_page) -> PageSnapshot:
                return await load_detached_snapshot(session, one, now, history=False)

            snap = await site.snapshots.get(status_page, now, read)
            in_progress, upcoming = windows_now(snap)
            found.append(
                PageState(
                    snap=snap,
                    headline=headline(snap),
                    url=public_url(status_page, ctx.settings),
                    in_progress=in_progress,
                    upcoming=upcoming,
                    subscribers=counts.get(status_page.id, {}),
                )
            )
    return found


async def load_health(ctx: AppContext) -> Health:
    async with ctx.db.read() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.status.in_((FAILED, DEAD)))
            .group_by(OutboxMessage.status)
        )
        counts = {status: count for status, count in rows.all()}
        latest: list[tuple[OutboxMessage, str]] = []
        if counts:
            for status in (FAILED, DEAD):
                latest += await admin.list_messages(session, status, PROBLEMS_SHOWN)
    latest.sort(key=lambda found: (found[0].created_at, found[0].id), reverse=True)
    return Health(counts.get(FAILED, 0), counts.get(DEAD, 0), latest[:PROBLEMS_SHOWN])


@router.get("/admin")
async def overview(request: Request, visit: Annotated[Visit, Depends(signed_in())]) -> Response:
    ctx = context_of(request)
    site: PublicSite = request.app.state.site
    return await page(
        request,
        "overview.html",
        visit,
        title="Overview",
        active="overview",
        pages=await load_pages(ctx, site, ctx.clock.now()),
        health=await load_health(ctx),
        can_retry=visit.has(CONFIGURE_ROLE),
    )


@router.post("/admin/notifications/retry")
async def retry(
    request: Request, visit: Annotated[Visit, Depends(signed_in(CONFIGURE_ROLE))]
) -> Response:
    """Queue failed and dead deliveries again: those named by ``id`` fields, else all."""
    ctx = context_of(request)
    ids = [i for i in (await read_form(request)).getlist("id") if i]
    async with ctx.db.write() as session:
        count, _skipped = await admin.retry(
            session, ids or None, ctx.clock.now(), actor=actor_of(visit)
        )
        message = (
            f"Queued {count} deliver{'y' if count == 1 else 'ies'} again."
            if count
            else "No failed or dead deliveries to retry."
        )
        await set_flash(session, visit.session_id, message)
    return see_other(links_of(request)() + "#notifications")
