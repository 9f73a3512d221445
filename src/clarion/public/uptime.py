"""90-day uptime bars for the public page, from the status ledger.

The same rules as the availability endpoint (``components/availability.py``): partial and full
outages are down, overlapping causes are merged, time before ``data_available_since`` and in
the future is not counted. A group is down whenever any of its counted components is down.

The cost does not grow with the length of the history:

1. the ledger rows inside the window (index ``status_page_id, component_id, occurred_at``);
2. every row of the causes that were still open when the window started (incidents not
   resolved, maintenance not complete at that moment): the state at the window's start;
3. per component, the earliest ledger row (one index seek each) for ``data_available_since``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.availability import (
    Interval,
    LedgerPoint,
    down_intervals,
    floor_percent,
    overlap_seconds,
)
from clarion.components.ledger import IMPACT_STATUSES, SEVERITY, worst
from clarion.components.models import Component, ComponentStatusChange
from clarion.incidents.models import Incident
from clarion.maintenances.models import Maintenance
from clarion.public.snapshot import PageSnapshot
from clarion.status_pages.service import StructureNode
from clarion.timeutil import to_utc

DAYS = 90
STATUS_WORDS = {
    "degraded_performance": "degraded performance",
    "partial_outage": "partial outage",
    "full_outage": "full outage",
    "under_maintenance": "under maintenance",
    "operational": "operational",
}


#: What the bars need of a ledger row (plain rows: building ORM objects costs more than the
#: rest of the computation).
_LEDGER_COLUMNS = (
    ComponentStatusChange.id,
    ComponentStatusChange.component_id,
    ComponentStatusChange.incident_id,
    ComponentStatusChange.maintenance_id,
    ComponentStatusChange.status,
    ComponentStatusChange.occurred_at,
    ComponentStatusChange.seq,
)


@dataclass(frozen=True)
class DayIncident:
    id: str
    name: str
    kind: str  # incident | maintenance
    status: str  # the worst status it gave the component (or group) that day


@dataclass(frozen=True)
class DayBar:
    day: date
    #: ``None`` when nothing of the day is covered (before data existed).
    percent: str | None
    #: The worst status of the day: ``operational`` or an impact / ``under_maintenance``;
    #: ``nodata`` when not covered.
    status: str
    incidents: tuple[DayIncident, ...] = ()

    @property
    def label(self) -> str:
        """What the bar says to a screen reader (and on hover): day, figure, incidents."""
        text = f"{self.day.day} {self.day:%b %Y}: "
        if self.percent is None:
            return text + "no data"
        text += f"{self.percent}% uptime"
        if not self.incidents:
            return text + "; no incidents"
        causes = "; ".join(
            f"{i.name} ({STATUS_WORDS.get(i.status, i.status)})" for i in self.incidents
        )
        return f"{text}; {causes}"


@dataclass(frozen=True)
class UptimeRow:
    days: list[DayBar]
    percent: str | None


@dataclass
class _Cause:
    kind: str
    name: str
    rows: list[ComponentStatusChange] = field(default_factory=list)


def window(now: datetime, days: int = DAYS) -> tuple[datetime, datetime]:
    """``[start, end)``: the last ``days`` UTC days, today included."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return today - timedelta(days=days - 1), today + timedelta(days=1)


async def load_uptime(
    session: AsyncSession, snapshot: PageSnapshot, now: datetime, days: int = DAYS
) -> dict[str, UptimeRow]:
    """Uptime rows by component id and by group item id, for what the page displays."""
    page = snapshot.page
    start, _end = window(now, days)
    component_ids = list(snapshot.components_by_id)
    if not component_ids:
        return {}
    # The state at the window's start: every row of the causes still open then. Found through
    # the incidents' and windows' own indexes, then the ledger's per-cause indexes, so the
    # ledger's history before the window is never scanned.
    open_incidents = list(
        await session.scalars(
            select(Incident.id).where(
                Incident.status_page_id == page.id,
                Incident.published_at < start,
                or_(Incident.resolved_at.is_(None), Incident.resolved_at >= start),
            )
        )
    )
    open_maintenances = list(
        await session.scalars(
            select(Maintenance.id).where(
                Maintenance.status_page_id == page.id,
                Maintenance.started_at < start,
                or_(Maintenance.completed_at.is_(None), Maintenance.completed_at >= start),
            )
        )
    )
    at_start: list[Any] = []
    for column, ids in (
        (ComponentStatusChange.incident_id, open_incidents),
        (ComponentStatusChange.maintenance_id, open_maintenances),
    ):
        if ids:
            found = await session.execute(
                select(*_LEDGER_COLUMNS).where(
                    column.in_(ids), ComponentStatusChange.occurred_at < start
                )
            )
            at_start.extend(found.all())
    in_window = await session.execute(
        select(*_LEDGER_COLUMNS).where(
            ComponentStatusChange.status_page_id == page.id,
            ComponentStatusChange.component_id.in_(component_ids),
            ComponentStatusChange.occurred_at >= start,
        )
    )
    unique = {r.id: r for r in [*at_start, *in_window.all()]}
    rows = sorted(unique.values(), key=lambda r: (r.occurred_at, r.seq, r.id))
    incident_ids = {r.incident_id for r in rows if r.incident_id}
    maintenance_ids = {r.maintenance_id for r in rows if r.maintenance_id}
    names: dict[str, str] = {}
    if incident_ids:
        for iid, name in await session.execute(
            select(Incident.id, Incident.name).where(Incident.id.in_(incident_ids))
        ):
            names[iid] = name
    if maintenance_ids:
        for mid, name in await session.execute(
            select(Maintenance.id, Maintenance.name).where(Maintenance.id.in_(maintenance_ids))
        ):
            names[mid] = name

    by_component: dict[str, list[Any]] = {}
    for row in rows:
        by_component.setdefault(row.component_id, []).append(row)

    first_seen = await _first_seen(session, page.id, component_ids)
    # When data starts: the component's creation, or its first ledger row if earlier
    # (history imported or published retrospectively).
    since = {
        cid: min([to_utc(c.created_at), *[to_utc(f) for f in [first_seen.get(cid)] if f]])
        for cid, c in snapshot.components_by_id.items()
    }
    result: dict[str, UptimeRow] = {}
    per_component: dict[str, _Series] = {}
    for cid in component_ids:
        series = _Series.build(by_component.get(cid, []), names, now)
        per_component[cid] = series
        result[cid] = series.row(start, days, since[cid], now)
    for node in _groups(snapshot.structure):
        members = [
            c.item.component_id
            for c in node.children
            if c.item.kind == "component"
            and c.item.component_id in per_component
            and c.item.display_uptime
        ]
        if not members:
            continue
        merged = _Series.merge([per_component[m] for m in members])
        result[node.item.id] = merged.row(start, days, min(since[m] for m in members), now)
    return result


def _groups(nodes: Iterable[StructureNode]) -> list[StructureNode]:
    found: list[StructureNode] = []
    for node in nodes:
        if node.item.kind == "group":
            found.append(node)
        elif node.item.kind == "sub_page":
            found.extend(_groups(node.children))
    return found


async def _first_seen(
    session: AsyncSession, page_id: str, component_ids: Sequence[str]
) -> dict[str, datetime]:
    """The earliest ledger row of each component on the page: one query, an index seek per
    component (a correlated ``min`` over the ``(page, component, occurred_at)`` index)."""
    first = (
        select(func.min(ComponentStatusChange.occurred_at))
        .where(
            ComponentStatusChange.status_page_id == page_id,
            ComponentStatusChange.component_id == Component.id,
        )
        .correlate(Component)
        .scalar_subquery()
    )
    rows = await session.execute(select(Component.id, first).where(Component.id.in_(component_ids)))
    return {cid: at for cid, at in rows if at is not None}


@dataclass
class _Series:
    """One component's (or a group's merged) down intervals and per-cause status spans."""

    down: list[Interval]
    #: (cause id, kind, name, status, start, end) for every non-operational stretch.
    spans: list[tuple[str, str, str, str, datetime, datetime]]

    @classmethod
    def build(cls, rows: Sequence[Any], names: dict[str, str], now: datetime) -> _Series:
        points = [
            LedgerPoint(r.incident_id or r.maintenance_id or "", r.occurred_at, r.seq, r.status)
            for r in rows
        ]
        down = down_intervals(points, now)
        spans: list[tuple[str, str, str, str, datetime, datetime]] = []
        # cause -> (kind, status, since)
        open_: dict[str, tuple[str, str, datetime]] = {}
        for r in rows:
            cause = r.incident_id or r.maintenance_id or ""
            current = open_.pop(cause, None)
            if current is not None and current[2] < r.occurred_at:
                kind, status, begun = current
                spans.append((cause, kind, names.get(cause, ""), status, begun, r.occurred_at))
            if r.status != "operational":
                kind = "incident" if r.incident_id else "maintenance"
                open_[cause] = (kind, r.status, r.occurred_at)
        for cause, (kind, status, begun) in open_.items():
            spans.append((cause, kind, names.get(cause, ""), status, begun, now))
        return cls(down, spans)

    @classmethod
    def merge(cls, members: Sequence[_Series]) -> _Series:
        """A group: down whenever any member is down (union of intervals)."""
        edges = sorted(i for m in members for i in m.down)
        merged: list[Interval] = []
        for a, b in edges:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return cls(merged, [s for m in members for s in m.spans])

    def row(self, start: datetime, days: int, since: datetime, now: datetime) -> UptimeRow:
        """Daily bars and the window's percentage, in one pass over intervals and spans
        (each is added to the days it touches), so the cost is linear in what the window holds.
        """
        end = start + timedelta(days=days)
        down_by_day = [0.0] * days
        for a, b in self.down:
            for index, lo, hi in _days_touched(a, b, start, end):
                down_by_day[index] += (min(b, hi) - max(a, lo)).total_seconds()
        causes_by_day: list[dict[str, DayIncident]] = [{} for _ in range(days)]
        for cause, kind, name, status, a, b in self.spans:
            if status not in IMPACT_STATUSES and kind != "maintenance":
                continue
            rank = SEVERITY.get(status, 0)
            for index, _lo, _hi in _days_touched(a, b, start, end):
                known = causes_by_day[index].get(cause)
                if known is None or rank > SEVERITY.get(known.status, 0):
                    causes_by_day[index][cause] = DayIncident(cause, name, kind, status)
        bars: list[DayBar] = []
        for index in range(days):
            lo = start + timedelta(days=index)
            c_lo, c_hi = max(lo, since), min(lo + timedelta(days=1), now)
            if c_hi <= c_lo:
                bars.append(DayBar(lo.date(), None, "nodata"))
                continue
            # Down time lies inside the covered part: there is no data before ``since`` and
            # intervals end at ``now``.
            percent = floor_percent((c_hi - c_lo).total_seconds(), down_by_day[index])
            found = tuple(causes_by_day[index].values())
            bars.append(DayBar(lo.date(), percent, worst(c.status for c in found), found))
        total_lo, total_hi = max(start, since), min(end, now)
        covered = (total_hi - total_lo).total_seconds()
        percent = None
        if covered > 0:
            percent = floor_percent(covered, overlap_seconds(self.down, total_lo, total_hi))
        return UptimeRow(bars, percent)


def _days_touched(
    a: datetime, b: datetime, start: datetime, end: datetime
) -> list[tuple[int, datetime, datetime]]:
    """(index, day start, day end) of every day of ``[start, end)`` that ``[a, b)`` overlaps."""
    lo, hi = max(a, start), min(b, end)
    if hi <= lo:
        return []
    first = int((lo - start) // timedelta(days=1))
    last = int((hi - start - timedelta(microseconds=1)) // timedelta(days=1))
    return [
        (i, start + timedelta(days=i), start + timedelta(days=i + 1))
        for i in range(first, last + 1)
    ]
