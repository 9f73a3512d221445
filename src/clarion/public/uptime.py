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
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import DateTime, func, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.ledger import DOWN_STATUSES, IMPACT_STATUSES, SEVERITY
from clarion.components.models import Component, ComponentStatusChange
from clarion.incidents.models import UNRESOLVED, Incident
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
#: rest of the computation). ``occurred_at`` is read as a plain ``DateTime``, without the
#: column type's conversion to aware UTC (a third of the cost of reading the rows): it is only
#: subtracted from the window's start, naive on SQLite (which stores naive UTC) and aware on
#: PostgreSQL.
_LEDGER_COLUMNS = (
    ComponentStatusChange.id,
    ComponentStatusChange.component_id,
    ComponentStatusChange.incident_id,
    ComponentStatusChange.maintenance_id,
    ComponentStatusChange.status,
    type_coerce(ComponentStatusChange.occurred_at, DateTime()).label("occurred_at"),
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
    # Each as two index ranges (not resolved or complete yet, ended since the start), so that
    # the causes that ended before the window are never read. (An incident has no
    # ``resolved_at`` exactly while it is unresolved.)
    open_incidents = union_all(
        *(
            select(Incident.id).where(
                Incident.status_page_id == page.id, still_open, Incident.published_at < start
            )
            for still_open in (UNRESOLVED, Incident.resolved_at >= start)
        )
    )
    open_maintenances = union_all(
        *(
            select(Maintenance.id).where(
                Maintenance.status_page_id == page.id, still_open, Maintenance.started_at < start
            )
            for still_open in (
                Maintenance.completed_at.is_(None),
                Maintenance.completed_at >= start,
            )
        )
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
    # (occurred_at, seq, id): the ledger's order.
    rows = sorted(unique.values(), key=itemgetter(5, 6, 0))

    # Everything below is in whole microseconds from the window's start (exact, like
    # ``timedelta``, and several times cheaper than datetime arithmetic).
    by_component: dict[str, list[_Point]] = {}
    naive_start = start.replace(tzinfo=None)
    for r in rows:
        at = r[5]
        by_component.setdefault(r[1], []).append(
            _Point(
                r[2] or r[3] or "",
                r[2] is not None,
                r[4],
                (at - (naive_start if at.tzinfo is None else start)) // _ONE_US,
            )
        )

    first_seen = await _first_seen(session, page.id, component_ids)
    # When data starts: the component's creation, or its first ledger row if earlier
    # (history imported or published retrospectively).
    since = {
        cid: _us(
            min([to_utc(c.created_at), *[to_utc(f) for f in [first_seen.get(cid)] if f]]), start
        )
        for cid, c in snapshot.components_by_id.items()
    }
    now_us = _us(now, start)
    dates = _dates(start, days)
    result: dict[str, UptimeRow] = {}
    per_component: dict[str, _Series] = {}
    for cid in component_ids:
        series = _Series.build(by_component.get(cid, ()), names, now_us)
        per_component[cid] = series
        result[cid] = series.row(dates, since[cid], now_us)
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
        result[node.item.id] = merged.row(dates, min(since[m] for m in members), now_us)
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


class _Point(NamedTuple):
    """A ledger row of one component, as the bars need it."""

    cause: str
    incident: bool
    status: str
    at: int  # microseconds from the window's start


def _down_intervals(points: Sequence[_Point], until: int) -> list[tuple[int, int]]:
    """``availability.down_intervals`` (the same rule, kept in step by a test), on
    microseconds: merged intervals during which the component was down, up to ``until``."""
    status_by_cause: dict[str, str] = {}
    down_causes = 0
    started: int | None = None
    found: list[tuple[int, int]] = []
    for cause, _incident, status, at in points:
        if at >= until:
            break
        was_down = status_by_cause.get(cause) in DOWN_STATUSES
        is_down = status in DOWN_STATUSES
        status_by_cause[cause] = status
        if was_down == is_down:
            continue
        down_causes += 1 if is_down else -1
        if down_causes == 1 and is_down:
            started = at
        elif down_causes == 0 and started is not None:
            if at > started:
                found.append((started, at))
            started = None
    if started is not None and until > started:
        found.append((started, until))
    return found


#: A stretch during which a cause gave a component a status the bars show:
#: (cause id, kind, name, status, severity, start, end), times in microseconds from the
#: window's start.
_Span = tuple[str, str, str, str, int, int, int]


@dataclass
class _Series:
    """One component's (or a group's merged) down intervals and per-cause status spans, in
    microseconds from the window's start."""

    down: list[tuple[int, int]]
    #: Every non-operational stretch of an incident impact or a maintenance window.
    spans: list[_Span]

    @classmethod
    def build(cls, points: Sequence[_Point], names: dict[str, str], now: int) -> _Series:
        down = _down_intervals(points, now)
        spans: list[_Span] = []
        # cause -> (kind, status, since)
        open_: dict[str, tuple[str, str, int]] = {}
        for cause, incident, status, at in points:
            current = open_.pop(cause, None)
            if current is not None and current[2] < at:
                kind, was, begun = current
                spans.append(_span(cause, kind, names, was, begun, at))
            if status != "operational":
                open_[cause] = ("incident" if incident else "maintenance", status, at)
        for cause, (kind, status, begun) in open_.items():
            spans.append(_span(cause, kind, names, status, begun, now))
        # Only impacts and maintenance show on the bars.
        return cls(down, [s for s in spans if s[3] in IMPACT_STATUSES or s[1] == "maintenance"])

    @classmethod
    def merge(cls, members: Sequence[_Series]) -> _Series:
        """A group: down whenever any member is down (union of intervals)."""
        edges = sorted(i for m in members for i in m.down)
        merged: list[tuple[int, int]] = []
        for a, b in edges:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return cls(merged, [s for m in members for s in m.spans])

    def row(self, dates: tuple[date, ...], since: int, now: int) -> UptimeRow:
        """Daily bars and the window's percentage, in one pass over intervals and spans
        (each is added to the days it touches), so the cost is linear in what the window holds.
        """
        days = len(dates)
        down_by_day: dict[int, int] = {}
        for a, b in self.down:
            for index in _days_touched(a, b, days):
                lo = index * _DAY_US
                hi = lo + _DAY_US
                down = (b if b < hi else hi) - (a if a > lo else lo)
                down_by_day[index] = down_by_day.get(index, 0) + down
        causes_by_day: dict[int, dict[str, DayIncident]] = {}
        for cause, kind, name, status, rank, a, b in self.spans:
            for index in _days_touched(a, b, days):
                found = causes_by_day.get(index)
                if found is None:
                    found = causes_by_day[index] = {}
                known = found.get(cause)
                if known is None or rank > SEVERITY.get(known.status, 0):
                    found[cause] = DayIncident(cause, name, kind, status)
        # Every day starts as a whole day on which nothing happened (the common case); only
        # the days that are not wholly covered (before ``since``, today, the future) or on
        # which something happened are worked out.
        bars = list(_quiet_days(dates))
        first, last = max(0, -(-since // _DAY_US)), min(days, now // _DAY_US)
        todo = {*down_by_day, *causes_by_day}
        if first < last:
            todo.update(range(first))
            todo.update(range(last, days))
        else:
            todo.update(range(days))
        for index in todo:
            lo = index * _DAY_US
            hi = lo + _DAY_US
            c_lo = since if since > lo else lo
            c_hi = now if now < hi else hi
            if c_hi <= c_lo:
                bars[index] = DayBar(dates[index], None, "nodata")
                continue
            # Down time lies inside the covered part: there is no data before ``since`` and
            # intervals end at ``now``.
            percent = _floor_percent_us(c_hi - c_lo, down_by_day.get(index, 0))
            day_causes = causes_by_day.get(index)
            if day_causes is None:
                bars[index] = DayBar(dates[index], percent, "operational")
                continue
            found_causes = tuple(day_causes.values())
            # ``ledger.worst``: the first of the most severe.
            status, best = "operational", -1
            for c in found_causes:
                rank = SEVERITY.get(c.status, 0)
                if rank > best:
                    status, best = c.status, rank
            bars[index] = DayBar(dates[index], percent, status, found_causes)
        total_lo = since if since > 0 else 0
        end = days * _DAY_US
        total_hi = now if now < end else end
        percent_all = None
        if total_hi > total_lo:
            down_all = 0
            for a, b in self.down:
                lo, hi = max(a, total_lo), min(b, total_hi)
                if hi > lo:
                    down_all += hi - lo
            percent_all = _floor_percent_us(total_hi - total_lo, down_all)
        return UptimeRow(bars, percent_all)


def _span(cause: str, kind: str, names: dict[str, str], status: str, begun: int, end: int) -> _Span:
    return (cause, kind, names.get(cause, ""), status, SEVERITY.get(status, 0), begun, end)


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
def _quiet_days(dates: tuple[date, ...]) -> tuple[DayBar, ...]:
    """The bar of each day of the window when it was wholly covered and nothing happened."""
    return tuple(DayBar(d, "100.00", "operational") for d in dates)


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
