"""Rendering the planned files of a page with the live site's renderers, reading incidents and
windows in batches, and writing what differs."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.incidents.models import Incident
from clarion.incidents.service import IncidentView
from clarion.maintenances.models import Maintenance
from clarion.maintenances.view import MaintenanceView
from clarion.public import html
from clarion.public.cache import ResourceRegistry
from clarion.public.export.files import Manifest, read, write
from clarion.public.export.plan import ExportContext, PagePlan, PlannedFile
from clarion.public.routes import NotFoundError, render_path, static_asset
from clarion.public.snapshot import PageSnapshot
from clarion.public.visibility import load_public_incidents, load_public_maintenances

#: Incidents and windows read per query when they are read by id.
BATCH = 250
View = TypeVar("View", IncidentView, MaintenanceView)


@dataclass
class Run:
    """What one process of an export did: the manifest entries of the files it kept or
    rendered, and which of them it wrote. ``done(n)`` is told of every file."""

    out: Path
    old: Manifest
    full: bool
    done: Callable[[int], None] = lambda _count: None
    new: Manifest = field(default_factory=Manifest)
    written: set[str] = field(default_factory=set)

    def current(self, page_id: str, file: PlannedFile) -> bool:
        """Whether ``file`` is on disk as its key says (so it is neither rendered nor
        written)."""
        if self.full or file.key is None or self.old.files.get(file.rel) != (page_id, file.key):
            return False
        return os.path.isfile(os.path.join(self.out, file.rel))

    def keep(self, page_id: str, file: PlannedFile) -> None:
        self.new.files[file.rel] = (page_id, file.key)
        self.done(1)

    def emit(self, page_id: str, file: PlannedFile, body: bytes) -> None:
        """Write ``body`` unless the file holds exactly these bytes already (``full``: write)."""
        target = self.out / file.rel
        if self.full or read(target) != body:
            write(target, body)
            self.written.add(file.rel)
        self.new.files[file.rel] = (page_id, file.key)
        self.done(1)


def pending(plan: PagePlan, run: Run) -> dict[str, PlannedFile]:
    """The files of ``plan`` to render (the others are current: ``Run.keep`` them)."""
    page_id = plan.snap.page.id
    return {rest: f for rest, f in plan.files.items() if not run.current(page_id, f)}


async def render_files(
    session: AsyncSession,
    plan: PagePlan,
    files: dict[str, PlannedFile],
    registry: ResourceRegistry,
    run: Run,
) -> None:
    """Render and write ``files`` (of ``plan``). A month's history is rendered from one read of
    the month, which renders its incidents' and windows' pages too; the other incidents and
    windows are read by id, ``BATCH`` at a time. A file whose subject was deleted since it was
    planned is left out (it is no longer part of the export)."""
    snap, ctx, page_id = plan.snap, plan.ctx, plan.snap.page.id
    todo = dict(files)
    current = html.Month.of(ctx.now)
    for month in plan.months:
        file = todo.pop(f"history/{month.key}", None)
        if file is None:
            continue
        views, windows = await html.month_contents(session, snap, month, None)
        body = html.history_page(snap, ctx, month, views, windows, plan.months)
        run.emit(page_id, file, body)
        if month == current and "history" in todo:
            run.emit(page_id, todo.pop("history"), body)
        for view in views:
            found = todo.pop(f"incidents/{view.incident.id}", None)
            if found is not None:
                run.emit(page_id, found, html.incident_page(snap, ctx, view))
        for window in windows:
            found = todo.pop(f"maintenance/{window.maintenance.id}", None)
            if found is not None:
                run.emit(page_id, found, html.maintenance_page(snap, ctx, window))
    hidden = snap.hidden_component_ids
    await _by_id(
        session,
        plan,
        todo,
        run,
        Incident,
        lambda s, rows: load_public_incidents(s, rows, hidden),
        html.incident_page,
    )
    await _by_id(
        session,
        plan,
        todo,
        run,
        Maintenance,
        lambda s, rows: load_public_maintenances(s, rows, hidden),
        html.maintenance_page,
    )
    for rest, file in list(todo.items()):
        if rest.startswith(("incidents/", "maintenance/")):
            continue
        if rest.startswith("static/"):
            asset = static_asset(rest.split("/", 1)[1])
            if asset is not None:
                run.emit(page_id, file, asset.body)
            continue
        try:
            body, _type, _headers = await render_path(session, snap, ctx, rest, registry)
        except NotFoundError:
            continue
        run.emit(page_id, file, body)


async def _by_id(
    session: AsyncSession,
    plan: PagePlan,
    todo: dict[str, PlannedFile],
    run: Run,
    model: type[Incident] | type[Maintenance],
    load: Callable[[AsyncSession, list[Any]], Awaitable[Sequence[View]]],
    render: Callable[[PageSnapshot, ExportContext, View], bytes],
) -> None:
    """Render the pages of ``model`` (incidents or windows) left in ``todo``, reading them
    ``BATCH`` at a time (their views with ``load``)."""
    kind = "incidents/" if model is Incident else "maintenance/"
    page_id = plan.snap.page.id
    ids = [rest.removeprefix(kind) for rest in todo if rest.startswith(kind)]
    for start in range(0, len(ids), BATCH):
        rows = await session.scalars(
            select(model).where(
                model.id.in_(ids[start : start + BATCH]), model.status_page_id == page_id
            )
        )
        for view in await load(session, list(rows.all())):
            subject = view.incident if isinstance(view, IncidentView) else view.maintenance
            run.emit(page_id, todo.pop(kind + subject.id), render(plan.snap, plan.ctx, view))
