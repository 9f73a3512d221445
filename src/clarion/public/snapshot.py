"""Everything the public face of one status page shows, read per content version.

``load_snapshot`` is the read the HTML page, the Statuspage-compatible JSON, the feeds and the
badge are rendered from, so they always agree with each other. Its cost does not grow with the
length of the history. It has two parts:

1. The current state, which every resource shows: the page's structure, the causes that are
   still open (unresolved incidents, maintenance in progress or upcoming) and the status they
   give each component.
2. The recent history (``PageHistory``): the latest 50 incidents and the latest 50 completed
   maintenance windows. The JSON documents, the feeds and the badge show it; the HTML page
   does not (it lists at most 10 recently resolved incidents, read by ``recent_resolved``),
   so a render of the page never reads it. ``load_history`` reads it for a snapshot, in a
   transaction that sees the snapshot's content version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

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
from clarion.db.in_lists import padded
from clarion.incidents.models import UNRESOLVED, Incident
from clarion.incidents.service import IncidentView
from clarion.maintenances.models import UNFINISHED, Maintenance
from clarion.maintenances.view import MaintenanceView
from clarion.public.visibility import (
    hidden_component_ids,
    load_public_incidents,
    load_public_maintenances,
    visible_component_ids,
)
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import StructureNode, iter_components, load_structure
from clarion.timeutil import to_utc

T = TypeVar("T")
RECENT_LIMIT = 50
RESOLVED = "resolved"
MAINTENANCE_COMPLETE = "maintenance_complete"
#: The HTML page's "Recently resolved": at most this many, resolved within ``RESOLVED_DAYS``,
#: among the latest ``RECENT_LIMIT`` incidents.
RESOLVED_SHOWN = 10
RESOLVED_DAYS = 14


@dataclass
class PageHistory:
    """The recent history of a page, for the resources that list it (JSON, feeds, badge).

    - ``recent_incidents``: the latest ``RECENT_LIMIT`` incidents (ongoing ones included),
      newest first.
    - ``maintenances``: windows in progress, upcoming, and the latest ``RECENT_LIMIT``
      completed, ordered by ``start_at`` descending.
    """

    recent_incidents: list[IncidentView]
    maintenances: list[MaintenanceView]


@dataclass
class PageSnapshot:
    """One page as the public sees it at ``generated_at``.

    - ``version`` is the page's ``content_version`` when the snapshot was read: everything
      rendered from this snapshot may be cached under it.
    - ``structure`` is the full tree in display order, hidden items included (renderers skip
      ``item.hidden``); archived components are left out.
    - ``hidden_component_ids``: the components no visible place shows; the incidents and
      windows of the snapshot (and of every public read, ``clarion.public.visibility``) leave
      them out.
    - ``component_status`` maps every component on the page to its current status on this page:
      the worst status any open cause (unresolved incident, unfinished maintenance) gives it.
    - ``overall`` is the worst status among the *visible* components (``operational`` when
      nothing is wrong).
    - ``ongoing_incidents``: unresolved incidents, newest first.
    - ``open_maintenances``: windows in progress and upcoming, ordered by ``start_at``
      descending (``MaintenanceView`` objects).
    - ``history``: the recent history (``PageHistory``) once it is loaded (``load_history``),
      else None; ``recent_incidents`` and ``maintenances`` read it.
    """

    page: StatusPage
    version: int
    generated_at: datetime
    structure: list[StructureNode]
    components_by_id: dict[str, Component]
    component_status: dict[str, str]
    overall: str
    ongoing_incidents: list[IncidentView]
    open_maintenances: list[MaintenanceView] = field(default_factory=list)
    history: PageHistory | None = None
    hidden_component_ids: frozenset[str] = frozenset()

    @property
    def recent_incidents(self) -> list[IncidentView]:
        """The latest ``RECENT_LIMIT`` incidents, newest first (``PageHistory``)."""
        return self._history.recent_incidents

    @property
    def maintenances(self) -> list[MaintenanceView]:
        """Open windows and the latest ``RECENT_LIMIT`` completed ones (``PageHistory``)."""
        return self._history.maintenances

    @property
    def _history(self) -> PageHistory:
        if self.history is None:
            raise LookupError("the snapshot's history is not loaded (see load_history)")
        return self.history

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
        return visible_component_ids(self.structure)


async def load_snapshot(
    session: AsyncSession, page: StatusPage, now: datetime, *, history: bool = True
) -> PageSnapshot:
    """Read the page's public state (see ``PageSnapshot``) inside ``session``'s transaction,
    with its recent history unless ``history`` is False."""
    version = page.content_version
    structure = await load_structure(session, page.id)
    components_by_id = {
        n.component.id: n.component for n in iter_components(structure) if n.component is not None
    }

    ongoing_rows = list(
        (
            await session.scalars(
                select(Incident)
                .where(Incident.status_page_id == page.id, UNRESOLVED)
                .order_by(Incident.published_at.desc(), Incident.id.desc())
            )
        ).all()
    )
    hidden = hidden_component_ids(structure)
    ongoing = await load_public_incidents(session, ongoing_rows, hidden)
    open_maintenances = await load_public_maintenances(
        session, await _open_maintenances(session, page.id), hidden
    )

    # Current statuses: only open causes can hold a component away from operational, since
    # resolving an incident and completing a maintenance set every component back.
    statuses: dict[str, list[str]] = {}
    open_incident_changes = await changes_for_incidents(session, [i.id for i in ongoing_rows])
    for changes in open_incident_changes.values():
        for component_id, status in latest_by_component(changes).items():
            statuses.setdefault(component_id, []).append(status)
    open_maintenance_ids = [view.maintenance.id for view in open_maintenances]
    for changes in (await changes_for_maintenances(session, open_maintenance_ids)).values():
        for component_id, status in latest_by_component(changes).items():
            statuses.setdefault(component_id, []).append(status)
    component_status = {cid: worst(statuses.get(cid, [])) for cid in components_by_id}
    visible = visible_component_ids(structure)
    overall = worst(component_status.get(cid, OPERATIONAL) for cid in visible)

    snap = PageSnapshot(
        page=page,
        version=version,
        generated_at=now,
        structure=structure,
        components_by_id=components_by_id,
        component_status=component_status,
        overall=overall,
        ongoing_incidents=ongoing,
        open_maintenances=open_maintenances,
        hidden_component_ids=hidden,
    )
    if history:
        snap.history = await load_history(session, snap)
    return snap


async def load_history(session: AsyncSession, snap: PageSnapshot) -> PageHistory:
    """The recent history of ``snap``'s page (see ``PageHistory``), read in ``session``.

    ``session``'s transaction must see the snapshot's content version (the page row it read
    has ``content_version == snap.version``), as the renders of the public site do: every
    write that changes what the page shows bumps that version in its own transaction.
    """
    page_id = snap.page.id
    recent_rows = list(
        (
            await session.scalars(
                select(Incident)
                .where(Incident.status_page_id == page_id)
                .order_by(Incident.published_at.desc(), Incident.id.desc())
                .limit(RECENT_LIMIT)
            )
        ).all()
    )
    known = {v.incident.id: v for v in snap.ongoing_incidents}
    hidden = snap.hidden_component_ids
    views = {
        v.incident.id: v
        for v in await load_public_incidents(session, _new(recent_rows, known), hidden)
    }
    views.update(known)
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
    windows = [
        *snap.open_maintenances,
        *await load_public_maintenances(session, done_rows, hidden),
    ]
    windows.sort(key=lambda v: (v.maintenance.start_at, v.maintenance.id), reverse=True)
    return PageHistory([views[i.id] for i in recent_rows], windows)


def _new(rows: list[Incident], known: dict[str, IncidentView]) -> list[Incident]:
    return [i for i in rows if i.id not in known]


async def recent_resolved(
    session: AsyncSession, snap: PageSnapshot, now: datetime
) -> list[IncidentView]:
    """The HTML page's "Recently resolved": among the latest ``RECENT_LIMIT`` incidents, the
    first ``RESOLVED_SHOWN`` resolved within ``RESOLVED_DAYS`` of ``now``, newest first.

    The same list as filtering ``recent_incidents``, without reading the other incidents'
    updates and ledger rows: the latest rows are read as plain columns, and only the shown
    ones in full.
    """
    since = now - timedelta(days=RESOLVED_DAYS)
    latest = await session.execute(
        select(Incident.id, Incident.incident_status, Incident.resolved_at, Incident.published_at)
        .where(Incident.status_page_id == snap.page.id)
        .order_by(Incident.published_at.desc(), Incident.id.desc())
        .limit(RECENT_LIMIT)
    )
    shown = [
        incident_id
        for incident_id, status, resolved_at, published_at in latest
        if status == RESOLVED and to_utc(resolved_at or published_at) >= since
    ][:RESOLVED_SHOWN]
    if not shown:
        return []
    rows = (await session.scalars(select(Incident).where(Incident.id.in_(padded(shown))))).all()
    views = await load_public_incidents(session, list(rows), snap.hidden_component_ids)
    by_id = {v.incident.id: v for v in views}
    return [by_id[i] for i in shown]


async def _open_maintenances(session: AsyncSession, page_id: str) -> list[Maintenance]:
    """Windows in progress and upcoming, ``start_at`` descending (a partial index holds
    exactly these: the page's completed windows are never scanned)."""
    return list(
        (
            await session.scalars(
                select(Maintenance)
                .where(Maintenance.status_page_id == page_id, UNFINISHED)
                .order_by(Maintenance.start_at.desc(), Maintenance.id.desc())
            )
        ).all()
    )


def severity(status: str) -> int:
    return SEVERITY.get(status, 0)


class SnapshotShare:
    """The latest snapshot of each page, shared by every resource rendered for its version.

    After a write, the page, its JSON documents, feeds and badge each miss the render cache;
    they render from one snapshot read instead of one each, and the resources that show the
    recent history share one read of it (``history``). A snapshot is reused only for the
    ``content_version`` it was read at, so it never outlives the content it shows. Concurrent
    requests for a version (or its history) not yet read wait for the one read in flight.
    """

    def __init__(self) -> None:
        self._latest: dict[str, PageSnapshot] = {}
        self._inflight: dict[tuple[str, int], asyncio.Task[PageSnapshot]] = {}
        self._histories: dict[tuple[str, int], asyncio.Task[PageHistory]] = {}

    async def get(
        self, page: StatusPage, now: datetime, read: Callable[[], Awaitable[PageSnapshot]]
    ) -> PageSnapshot:
        """The snapshot of ``page`` at its ``content_version``; ``read()`` loads one (in a
        transaction of its own) when none is known for that version."""
        found = self._latest.get(page.id)
        if found is not None and found.version == page.content_version:
            return found
        return await _single_flight(
            self._inflight, (page.id, page.content_version), read, self._keep
        )

    async def history(
        self, snap: PageSnapshot, read: Callable[[], Awaitable[PageHistory]]
    ) -> PageHistory:
        """``snap.history``, read by ``read()`` (``load_history`` in a transaction that sees
        ``snap``'s version) when it is not loaded yet."""
        if snap.history is None:
            snap.history = await _single_flight(
                self._histories, (snap.page.id, snap.version), read, lambda _found: None
            )
        return snap.history

    def _keep(self, snap: PageSnapshot) -> None:
        known = self._latest.get(snap.page.id)
        if known is None or snap.version >= known.version:
            self._latest[snap.page.id] = snap


async def _single_flight(
    inflight: dict[tuple[str, int], asyncio.Task[T]],
    key: tuple[str, int],
    read: Callable[[], Awaitable[T]],
    keep: Callable[[T], None],
) -> T:
    """``read()``'s result, read once for every concurrent caller with the same ``key``: it runs
    in a task of its own (shielded, so a caller that goes away does not cancel it for the
    others), and ``keep`` sees it before the callers do."""
    task = inflight.get(key)
    if task is None:

        async def run() -> T:
            try:
                found = await read()
                keep(found)
                return found
            finally:
                inflight.pop(key, None)

        task = asyncio.ensure_future(run())
        inflight[key] = task
    return await asyncio.shield(task)
