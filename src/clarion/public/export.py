"""``clarion export``: the whole public site as files a static server serves identically.

Every page is written under ``DIR/<slug>/`` with the same bytes the live site serves (the same
``render_path``), as ``index.html`` files in folders so that the links the pages contain
(``/<slug>/incidents/<id>``, ``/<slug>/history/2026-11``) work on any static host:

    DIR/acme/index.html                      /acme
    DIR/acme/history/index.html              /acme/history
    DIR/acme/history/2026-11/index.html      /acme/history/2026-11
    DIR/acme/incidents/<id>/index.html       /acme/incidents/<id>
    DIR/acme/maintenance/<id>/index.html     /acme/maintenance/<id>
    DIR/acme/api/v2/summary.json, feed.atom, feed.rss, maintenance.ics, badge.svg ...
    DIR/acme/static/clarion.css ...

With ``at_root`` (one page), the page is written at ``DIR/`` and linked from ``/``, for hosting
it on its own domain.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.incidents.models import Incident
from clarion.maintenances.models import Maintenance
from clarion.public import html
from clarion.public.cache import RenderContext, ResourceRegistry
from clarion.public.routes import (
    STATIC_DIR,
    NotFoundError,
    build_registry,
    page_context,
    render_path,
    static_asset,
)
from clarion.public.snapshot import PageSnapshot, load_snapshot
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url


class ExportError(Exception):
    """The export cannot be done as asked (unknown page, ``at_root`` with several pages)."""


@dataclass
class ExportReport:
    files: list[Path] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)


def _write(target: Path, body: bytes, report: ExportReport) -> None:
    """Write atomically, so a static server never serves half a file during a re-export."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".export-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    report.files.append(target)


def _file_for(root: Path, rest: str) -> Path:
    """Where the resource at ``rest`` (relative to the page root) lives on disk."""
    if rest == "":
        return root / "index.html"
    last = rest.rsplit("/", 1)[-1]
    if "." in last:
        return root / rest
    return root / rest / "index.html"


async def export_site(
    ctx: AppContext, out: Path, *, slugs: list[str] | None = None, at_root: bool = False
) -> ExportReport:
    """Write the public site of every page (or those in ``slugs``) under ``out``."""
    report = ExportReport()
    registry = build_registry()
    now = ctx.clock.now()
    async with ctx.db.read() as session:
        query = select(StatusPage).order_by(StatusPage.slug)
        if slugs:
            query = query.where(StatusPage.slug.in_(slugs))
        pages = list((await session.scalars(query)).all())
        missing = set(slugs or []) - {p.slug for p in pages}
        if missing:
            raise ExportError(f"no status page with slug {', '.join(sorted(missing))}")
        if at_root and len(pages) != 1:
            raise ExportError("--at-root exports exactly one page: name it with --page")
        for page in pages:
            root = out if at_root else out / page.slug
            rctx = page_context(page, ctx.settings, now, on_domain=False)
            if at_root:
                url = public_url(page, ctx.settings) if page.custom_domain else ""
                rctx = RenderContext(ctx.settings, "", url or ctx.settings.base_url, now)
            snap = await load_snapshot(session, page, now)
            for rest in await _paths(session, snap, registry):
                try:
                    body, _type, _headers = await render_path(session, snap, rctx, rest, registry)
                except NotFoundError:
                    continue
                _write(_file_for(root, rest), body, report)
            for asset in sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file()):
                found = static_asset(asset)
                if found is not None:
                    _write(root / "static" / asset, found.body, report)
            report.pages.append(page.slug)
    return report


async def _paths(
    session: AsyncSession, snap: PageSnapshot, registry: ResourceRegistry
) -> list[str]:
    """Every path under the page: the page, history by month, every incident and
    maintenance window, and the exported resources."""
    page = snap.page
    paths = ["", "history"]
    paths += [
        f"history/{m.key}" for m in await html.history_months(session, snap, snap.generated_at)
    ]
    incident_ids = await session.scalars(
        select(Incident.id).where(Incident.status_page_id == page.id).order_by(Incident.id)
    )
    paths += [f"incidents/{i}" for i in incident_ids]
    maintenance_ids = await session.scalars(
        select(Maintenance.id).where(Maintenance.status_page_id == page.id).order_by(Maintenance.id)
    )
    paths += [f"maintenance/{m}" for m in maintenance_ids]
    paths += [r.path for r in registry if r.exported]
    return paths
