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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select, union_all
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


class DayIncident(NamedTuple):
    id: str
    name: str
    kind: str  # incident | maintenance
    status: str  # the worst status it gave the component (or group) that day


class DayBar(NamedTuple):
    """One day of a row (a tuple: a page builds about 2,000 of them per render)."""

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
    # One statement: the window's ledger rows, plus the state at the window's start (every
    # row of the causes still open then, found through the incidents' and windows' own
    # indexes, then the ledger's per-cause indexes, so the history before the window is never
    # scanned), each with its cause's name.
    open_incidents = select(Incident.id).where(
        Incident.status_page_id == page.id,
        Incident.published_at < start,
        or_(Incident.resolved_at.is_(None), Incident.resolved_at >= start),
    )
    open_maintenances = select(Maintenance.id).where(
        Maintenance.status_page_id == page.id,
        Maintenance.started_at < start,
        or_(Maintenance.completed_at.is_(None), Maintenance.completed_at >= start),
    )
    csc = ComponentStatusChange

    def ledger(*conditions: Any) -> Any:
        return (
            select(*_LEDGER_COLUMNS, func.coalesce(Incident.name, Maintenance.name, ""))
            .outerjoin(Incident, Incident.id == csc.incident_id)
            .outerjoin(Maintenance, Maintenance.id == csc.maintenance_id)
            .where(*conditions)
        )

    found = await session.execute(
        union_all(
            ledger(csc.incident_id.in_(open_incidents), csc.occurred_at < start),
            ledger(csc.maintenance_id.in_(open_maintenances), csc.occurred_at < start),
            ledger(
                csc.status_page_id == page.id,
                csc.component_id.in_(component_ids),
                csc.occurred_at >= start,
            ),
        )
    )
    names: dict[str, str] = {}
    unique: dict[str, Any] = {}
    for r in found.all():
        unique[r[0]] = r
        cause = r[2] or r[3]
        if cause:
            names[cause] = r[7]
    rows = sorted(unique.values(), key=lambda r: (r.occurred_at, r.seq, r.id))

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

        Day arithmetic is in whole microseconds from ``start`` (exact, like ``timedelta``, and
        several times cheaper than datetime arithmetic for 90 days of 20-odd rows).
        """
        end = start + timedelta(days=days)
        now_us, since_us = _us(now, start), _us(since, start)
        down_by_day = [0] * days
        for a, b in self.down:
            a_us, b_us = _us(a, start), _us(b, start)
            for index in _days_touched(a_us, b_us, days):
                lo = index * _DAY_US
                down_by_day[index] += min(b_us, lo + _DAY_US) - max(a_us, lo)
        causes_by_day: list[dict[str, DayIncident] | None] = [None] * days
        for cause, kind, name, status, a, b in self.spans:
            if status not in IMPACT_STATUSES and kind != "maintenance":
                continue
            rank = SEVERITY.get(status, 0)
            for index in _days_touched(_us(a, start), _us(b, start), days):
                found = causes_by_day[index]
                if found is None:
                    found = causes_by_day[index] = {}
                known = found.get(cause)
                if known is None or rank > SEVERITY.get(known.status, 0):
                    found[cause] = DayIncident(cause, name, kind, status)
        dates = _dates(start, days)
        quiet = _quiet_days(start, days)
        bars: list[DayBar] = []
        for index in range(days):
            lo = index * _DAY_US
            hi = lo + _DAY_US
            c_lo = since_us if since_us > lo else lo
            c_hi = now_us if now_us < hi else hi
            day_causes = causes_by_day[index]
            if c_hi <= c_lo:
                bars.append(DayBar(dates[index], None, "nodata"))
                continue
            if day_causes is None and not down_by_day[index] and c_lo == lo and c_hi == hi:
                bars.append(quiet[index])  # the common case: a whole day, nothing happened
                continue
            # Down time lies inside the covered part: there is no data before ``since`` and
            # intervals end at ``now``.
            percent = _floor_percent_us(c_hi - c_lo, down_by_day[index])
            if day_causes is None:
                bars.append(DayBar(dates[index], percent, "operational"))
                continue
            found_causes = tuple(day_causes.values())
            status = worst(c.status for c in found_causes)
            bars.append(DayBar(dates[index], percent, status, found_causes))
        total_lo, total_hi = max(start, since), min(end, now)
        covered = (total_hi - total_lo).total_seconds()
        percent_all = None
        if covered > 0:
            percent_all = floor_percent(covered, overlap_seconds(self.down, total_lo, total_hi))
        return UptimeRow(bars, percent_all)


_DAY_US = 86_400_000_000
_ONE_US = timedelta(microseconds=1)


def _us(moment: datetime, start: datetime) -> int:
    """Whole microseconds from ``start`` to ``moment`` (exact)."""
    return (moment - start) // _ONE_US


@lru_cache(maxsize=8)
def _dates(start: datetime, days: int) -> tuple[date, ...]:
    first = start.date()
    return tuple(first + timedelta(days=i) for i in range(days))


@lru_cache(maxsize=8)
def _quiet_days(start: datetime, days: int) -> tuple[DayBar, ...]:
    """The bar of each day of the window when it was wholly covered and nothing happened."""
    return tuple(DayBar(d, "100.00", "operational") for d in _dates(start, days))


def _floor_percent_us(covered_us: int, down_us: int) -> str:
    """``availability.floor_percent`` on exact microseconds (``covered_us`` > 0)."""
    if down_us <= 0:
        return "100.00"
    up_us = covered_us - min(down_us, covered_us)
    basis_points = (up_us * 10_000) // covered_us
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def _days_touched(a_us: int, b_us: int, days: int) -> range:
    """Indexes of the days of the window (``[0, days)``) that ``[a_us, b_us)`` overlaps."""
    lo, hi = max(a_us, 0), min(b_us, days * _DAY_US)
    if hi <= lo:
        return range(0)
    return range(lo // _DAY_US, (hi - 1) // _DAY_US + 1)
