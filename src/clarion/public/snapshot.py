"""Everything the public face of one status page shows, read in one transaction.

``load_snapshot`` is the single read the HTML page, the Statuspage-compatible JSON, the feeds
and the badge are rendered from, so they always agree with each other. Its cost does not grow
with the length of the history: it reads the page's structure, the causes that are still open
(unresolved incidents, unfinished maintenance), the latest 50 incidents and the maintenance
windows that are in progress, upcoming or among the latest 50 completed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.ledger import (
    OPERATIONAL,
    SEVERITY,
    changes_for_incidents,
    changes_for_maintenances,
    latest_by_component,
    worst,
)
from clarion.components.models import Component
from clarion.incidents.models import Incident
from clarion.incidents.service import IncidentView, load_views
from clarion.maintenances.models import Maintenance
from clarion.maintenances.view import MaintenanceView
from clarion.maintenances.view import load_views as load_maintenance_views
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import StructureNode, iter_components, load_structure

RECENT_LIMIT = 50
RESOLVED = "resolved"
MAINTENANCE_COMPLETE = "maintenance_complete"


@dataclass
class PageSnapshot:
    """One page as the public sees it at ``generated_at``.

    - ``version`` is the page's ``content_version`` when the snapshot was read: everything
      rendered from this snapshot may be cached under it.
    - ``structure`` is the full tree in display order, hidden items included (renderers skip
      ``item.hidden``); archived components are left out.
    - ``component_status`` maps every component on the page to its current status on this page:
      the worst status any open cause (unresolved incident, unfinished maintenance) gives it.
    - ``overall`` is the worst status among the *visible* components (``operational`` when
      nothing is wrong).
    - ``ongoing_incidents``: unresolved incidents, newest first. ``recent_incidents``: the latest
      ``RECENT_LIMIT`` incidents (ongoing ones included), newest first.
    - ``maintenances``: windows in progress, upcoming, and the latest ``RECENT_LIMIT``
      completed, ordered by ``start_at`` descending (``MaintenanceView`` objects).
    """

    page: StatusPage
    version: int
    generated_at: datetime
    structure: list[StructureNode]
    components_by_id: dict[str, Component]
    component_status: dict[str, str]
    overall: str
    ongoing_incidents: list[IncidentView]
    recent_incidents: list[IncidentView]
    maintenances: list[MaintenanceView] = field(default_factory=list)

    def status_of(self, component_id: str) -> str:
        return self.component_status.get(component_id, OPERATIONAL)

    def group_status(self, node: StructureNode) -> str:
        """Worst status among a group's (or sub-page's) visible components."""
        return worst(
            self.status_of(c.item.component_id or "")
            for c in iter_components(node.children)
            if not c.item.hidden
        )

    @property
    def visible_component_ids(self) -> list[str]:
        return _visible_component_ids(self.structure)


def _visible_component_ids(nodes: list[StructureNode]) -> list[str]:
    found: list[str] = []
    for node in nodes:
        if node.item.hidden:
            continue
        if node.item.kind == "component":
            if node.item.component_id is not None:
                found.append(node.item.component_id)
        else:
            found.extend(_visible_component_ids(node.children))
    return found


async def load_snapshot(session: AsyncSession, page: StatusPage, now: datetime) -> PageSnapshot:
    """Read the page's public state (see ``PageSnapshot``) inside ``session``'s transaction."""
    version = page.content_version
    structure = await load_structure(session, page.id)
    components_by_id = {
        n.component.id: n.component for n in iter_components(structure) if n.component is not None
    }

    ongoing_rows = list(
        (
            await session.scalars(
                select(Incident)
                .where(Incident.status_page_id == page.id, Incident.incident_status != RESOLVED)
                .order_by(Incident.published_at.desc(), Incident.id.desc())
            )
        ).all()
    )
    recent_rows = list(
        (
            await session.scalars(
                select(Incident)
                .where(Incident.status_page_id == page.id)
                .order_by(Incident.published_at.desc(), Incident.id.desc())
                .limit(RECENT_LIMIT)
            )
        ).all()
    )
    by_id = {i.id: i for i in recent_rows}
    by_id.update({i.id: i for i in ongoing_rows})
    views = {v.incident.id: v for v in await load_views(session, list(by_id.values()))}

    maintenances = await _load_maintenances(session, page.id)

    # Current statuses: only open causes can hold a component away from operational, since
    # resolving an incident and completing a maintenance set every component back.
    statuses: dict[str, list[str]] = {}
    open_incident_changes = await changes_for_incidents(session, [i.id for i in ongoing_rows])
    for changes in open_incident_changes.values():
        for component_id, status in latest_by_component(changes).items():
            statuses.setdefault(component_id, []).append(status)
    open_maintenance_ids = [
        view.maintenance.id
        for view in maintenances
        if view.maintenance.maintenance_status != MAINTENANCE_COMPLETE
    ]
    for changes in (await changes_for_maintenances(session, open_maintenance_ids)).values():
        for component_id, status in latest_by_component(changes).items():
            statuses.setdefault(component_id, []).append(status)
    component_status = {cid: worst(statuses.get(cid, [])) for cid in components_by_id}
    visible = _visible_component_ids(structure)
    overall = worst(component_status.get(cid, OPERATIONAL) for cid in visible)

    return PageSnapshot(
        page=page,
        version=version,
        generated_at=now,
        structure=structure,
        components_by_id=components_by_id,
        component_status=component_status,
        overall=overall,
        ongoing_incidents=[views[i.id] for i in ongoing_rows],
        recent_incidents=[views[i.id] for i in recent_rows],
        maintenances=maintenances,
    )


async def _open_maintenances(session: AsyncSession, page_id: str) -> list[Maintenance]:
    return list(
        (
            await session.scalars(
                select(Maintenance).where(
                    Maintenance.status_page_id == page_id,
                    Maintenance.maintenance_status != MAINTENANCE_COMPLETE,
                )
            )
        ).all()
    )


async def _load_maintenances(session: AsyncSession, page_id: str) -> list[MaintenanceView]:
    """In progress and upcoming windows, and the latest ``RECENT_LIMIT`` completed ones, as
    ``MaintenanceView``s ordered by ``start_at`` descending."""
    open_rows = await _open_maintenances(session, page_id)
    done_rows = list(
        (
            await session.scalars(
                select(Maintenance)
                .where(
                    Maintenance.status_page_id == page_id,
                    Maintenance.maintenance_status == MAINTENANCE_COMPLETE,
                )
                .order_by(Maintenance.start_at.desc(), Maintenance.id.desc())
                .limit(RECENT_LIMIT)
            )
        ).all()
    )
    rows = sorted([*open_rows, *done_rows], key=lambda m: (m.start_at, m.id), reverse=True)
    return await load_maintenance_views(session, rows)


def severity(status: str) -> int:
    return SEVERITY.get(status, 0)


class SnapshotShare:
    """The latest snapshot of each page, shared by every resource rendered for its version.

    After a write, the page, its JSON documents, feeds and badge each miss the render cache;
    they render from one snapshot read instead of one each. A snapshot is reused only for the
    ``content_version`` it was read at, so it never outlives the content it shows. Concurrent
    requests for a version not yet read wait for the one read in flight.
    """

    def __init__(self) -> None:
        self._latest: dict[str, PageSnapshot] = {}
        self._inflight: dict[tuple[str, int], asyncio.Task[PageSnapshot]] = {}

    async def get(
        self, page: StatusPage, now: datetime, read: Callable[[], Awaitable[PageSnapshot]]
    ) -> PageSnapshot:
        """The snapshot of ``page`` at its ``content_version``; ``read()`` loads one (in a
        transaction of its own) when none is known for that version."""
        found = self._latest.get(page.id)
        if found is not None and found.version == page.content_version:
            return found
        key = (page.id, page.content_version)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._read(key, read))
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _read(
        self, key: tuple[str, int], read: Callable[[], Awaitable[PageSnapshot]]
    ) -> PageSnapshot:
        try:
            snap = await read()
            known = self._latest.get(snap.page.id)
            if known is None or snap.version >= known.version:
                self._latest[snap.page.id] = snap
            return snap
        finally:
            self._inflight.pop(key, None)
