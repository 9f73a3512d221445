"""Every file of an exported page, with the key of what its bytes depend on, and who renders it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.incidents.models import Incident
from clarion.maintenances.models import Maintenance
from clarion.public import html
from clarion.public.cache import RenderContext, ResourceRegistry, render_revision
from clarion.public.export.files import EXPORT_REVISION, file_for
from clarion.public.routes import STATIC_DIR, page_context
from clarion.public.snapshot import PageSnapshot, load_snapshot
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url
from clarion.status_pages.service import StructureNode
from clarion.timeutil import to_utc


@dataclass(frozen=True)
class ExportContext(RenderContext):
    """The render context of an exported page: as the live site's, except that "Subscribe to
    updates" leads to the live site's subscribe page (``subscribe_url``), which a static copy
    cannot serve (it is a form that sends e-mail)."""

    subscribe_url: str = ""

    def href(self, path: str = "") -> str:
        if self.subscribe_url and path.strip("/") == "subscribe":
            return self.subscribe_url
        return super().href(path)


def export_context(
    page: StatusPage, settings: Settings, now: datetime, *, at_root: bool
) -> ExportContext:
    """How an exported page links: under its slug, or from ``/`` (``at_root``); subscribing
    happens on the live site, at ``CLARION_BASE_URL/<slug>/subscribe``."""
    live = page_context(page, settings, now, on_domain=False)
    prefix, url = live.prefix, live.public_url
    if at_root:
        prefix = ""
        url = (public_url(page, settings) if page.custom_domain else "") or settings.base_url
    subscribe = f"{settings.base_url}/{page.slug}/subscribe"
    return ExportContext(settings, prefix, url, now, subscribe_url=subscribe)


def digest(*parts: Any) -> str:
    return hashlib.blake2b(orjson.dumps(parts), digest_size=12).hexdigest()


def _iso(moment: datetime | None) -> str:
    return to_utc(moment).isoformat() if moment is not None else ""


def _structure(nodes: Iterable[StructureNode]) -> list[Any]:
    return [
        [
            n.item.id,
            n.item.kind,
            n.item.name,
            n.item.description,
            n.item.hidden,
            n.item.component_id,
            n.item.display_uptime,
            n.item.display_aggregated_uptime,
            _structure(n.children),
        ]
        for n in nodes
    ]


def fingerprint(snap: PageSnapshot, ctx: ExportContext) -> str:
    """The page's presentation: what every file of the page depends on besides its own
    content (the page's settings, its structure and component names, how it links, the
    release's render revision)."""
    page = snap.page
    return digest(
        EXPORT_REVISION,
        render_revision(),
        [page.id, page.slug, page.name, page.description, page.display_uptime_mode],
        [page.custom_domain, page.time_zone, _iso(page.updated_at)],
        [ctx.prefix, ctx.public_url, ctx.subscribe_url],
        sorted((cid, c.name, c.description) for cid, c in snap.components_by_id.items()),
        _structure(snap.structure),
    )


@dataclass(frozen=True)
class PlannedFile:
    """``rest``: the path under the page; ``rel``: the file, relative to the export's
    directory; ``key``: what its bytes depend on (None: rendered every time); ``month``: the
    month whose history lists it (incidents and windows), or the month it is."""

    rest: str
    rel: str
    key: str | None
    month: str = ""


@dataclass
class PagePlan:
    """``folder``: where the page's files go, relative to the export's directory (``acme/``,
    or ``""`` at its root)."""

    snap: PageSnapshot
    ctx: ExportContext
    folder: str
    months: list[html.Month]
    files: dict[str, PlannedFile] = field(default_factory=dict)

    def add(self, rest: str, key: str | None, month: str = "") -> None:
        self.files[rest] = PlannedFile(rest, file_for(self.folder, rest), key, month)


async def plan_page(
    session: AsyncSession,
    page: StatusPage,
    ctx: ExportContext,
    registry: ResourceRegistry,
    *,
    at_root: bool,
) -> PagePlan:
    """Every file of ``page`` with its key (a few reads of plain columns):

    - an incident's or window's page: the presentation (``fingerprint``) and its own
      ``updated_at`` and ``update_count``, which every write that changes what it shows moves;
    - a month's history (and ``history``, the current month's): the presentation, the keys of
      the month's incidents and windows, and the months listed (the first to the current one);
    - the page, the feeds, the JSON documents, the badge and the assets: no key (they show the
      current time or the recent history): rendered every time, written when they differ.
    """
    now = ctx.now
    snap = await load_snapshot(session, page, now)
    presentation = fingerprint(snap, ctx)
    months = [
        m
        for m in await html.history_months(session, snap, now)
        if html.Month.parse(m.key) is not None  # as the live site: no page outside 1970..9999
    ]
    plan = PagePlan(snap, ctx, "" if at_root else f"{page.slug}/", months)
    in_month: dict[str, list[str]] = {}
    for model, kind, moment in (
        (Incident, "incidents", Incident.published_at),
        (Maintenance, "maintenance", Maintenance.start_at),
    ):
        rows = await session.execute(
            select(model.id, moment, model.updated_at, model.update_count)
            .where(model.status_page_id == page.id)
            .order_by(model.id)
        )
        for row_id, at, updated_at, count in rows:
            key = digest(presentation, kind, row_id, _iso(updated_at), count)
            month_key = html.Month.of(to_utc(at)).key
            plan.add(f"{kind}/{row_id}", key, month_key)
            in_month.setdefault(month_key, []).append(key)
    current = html.Month.of(now)
    first = months[0].key if months else current.key
    plan.add("", None)
    for month in months:
        key = digest(
            presentation, month.key, first, current.key, sorted(in_month.get(month.key, []))
        )
        plan.add(f"history/{month.key}", key, month.key)
        if month == current:
            plan.add("history", key, month.key)
    for resource in registry:
        if resource.exported:
            plan.add(resource.path, None)
    for asset in sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file()):
        plan.add(f"static/{asset}", None)
    return plan


def share_out(plan: PagePlan, pending: dict[str, PlannedFile], workers: int) -> dict[str, int]:
    """Which worker (0 .. ``workers`` - 1) renders each pending file, the same in every worker
    that planned the same files.

    A month's history is rendered from one read of the month that also renders the pages of
    its incidents and windows, so they go together; the page, the resources and the assets go
    to worker 0; the rest is balanced by number of files, largest units first."""
    units: dict[str, list[str]] = {}
    months = {f"history/{m.key}" for m in plan.months}
    pending_months = {f.month for r, f in pending.items() if r in months}
    for rest, file in pending.items():
        if file.month in pending_months:
            units.setdefault("history/" + file.month, []).append(rest)
        elif rest.startswith(("incidents/", "maintenance/")):
            units[rest] = [rest]
        else:
            units.setdefault("", []).append(rest)
    load = [0] * workers
    owner: dict[str, int] = {}
    for rest in units.pop("", []):
        owner[rest] = 0
        load[0] += 1
    for _unit, members in sorted(units.items(), key=lambda u: (-len(u[1]), u[0])):
        worker = min(range(workers), key=lambda w: (load[w], w))
        load[worker] += len(members)
        for rest in members:
            owner[rest] = worker
    return owner
