"""90-day uptime bars for the public page, from the status ledger.

The same rules as the availability endpoint (``components/availability.py``): partial and full
outages are down, overlapping causes are merged, time before ``data_available_since`` and in
the future is not counted. A group is down whenever any of its counted components is down.

The cost does not grow with the length of the history. What is read:

1. the ledger rows inside the window (index ``status_page_id, component_id, occurred_at``);
2. every row of the causes that were still open when the window started (incidents not
   resolved, maintenance not complete at that moment, found through their own indexes): the
   state at the window's start;
3. per component, the earliest ledger row (one index seek each) for ``data_available_since``;
4. the names of the causes in the window (tooltips name them).

What is kept (``UptimeMemo``, one per running site): 1 to 3 depend on nothing but the page's
ledger, and every write that changes it moves the page's ``content_version``. So they are read
again only when that version, the window (a new UTC day) or the page's components change; every
render reads the names (4), which a rename changes without touching the ledger. A row of bars is
worked out again only when its input changed (its ledger rows, its causes' names, when its data
starts) or when it depends on the moment of the render: a cause still open at the end, a change
today, data starting today. The others are the same bars, and only their percentage over the
window, whose span grows with the clock, is worked out again."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import DateTime, bindparam, func, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.ledger import DOWN_STATUSES, IMPACT_STATUSES, SEVERITY
from clarion.components.models import Component, ComponentStatusChange
from clarion.db.in_lists import padded
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
#: column type's conversion to aware UTC (a large part of the cost of reading the rows): it is only
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
    #: What a renderer derives once from the first ``steady_days`` days (their markup):
    #: shared with the rows that later renders take from ``UptimeMemo`` with the same days.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    steady_days: int = field(default=0, compare=False)


def window(now: datetime, days: int = DAYS) -> tuple[datetime, datetime]:
    """``[start, end)``: the last ``days`` UTC days, today included."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return today - timedelta(days=days - 1), today + timedelta(days=1)


class _Component(NamedTuple):
    """One component's part of the window: its ledger points (ledger order), the causes they
    name (in order of appearance), and whether its bars depend on the moment of the render
    beyond the window's day: a cause still not back to operational at the end, or a change
    today."""

    points: tuple[_Point, ...]
    causes: tuple[str, ...]
    volatile: bool


@dataclass(eq=False)
class _Bars:
    """A row of bars as a render worked it out, kept in ``_Window.bars`` for later renders.

    The bars before today depend on nothing but the window's ledger rows (fixed by the
    window's key), the names of their causes and when the data starts: later renders with the
    same ``inputs`` and ``since`` take them as they are. Today's bar and the percentage depend
    on the moment too, unless the row is ``fixed`` (see ``load_uptime``): then its ``series``
    and ``today`` are kept as well, and only the percentage is worked out again.
    """

    #: A component: its id and its causes' names; a group: its members' entries (``_Bars``,
    #: equal only to themselves).
    inputs: tuple[Any, ...]
    since: int
    past: list[DayBar]
    #: ``UptimeRow.memo`` of the rows made from it.
    memo: dict[Any, Any]
    series: _Series | None = None
    today: DayBar | None = None


@dataclass
class _Window:
    """What a page's bars read from the ledger for one window (see the module's docstring)."""

    #: (``content_version``, the window's start, the page's component ids).
    key: tuple[int, datetime, tuple[str, ...]]
    components: dict[str, _Component]
    first_seen: dict[str, datetime]
    incident_ids: list[str]
    maintenance_ids: list[str]
    #: Rows of bars by component id and group item id (see ``_Bars``).
    bars: dict[str, _Bars] = field(default_factory=dict)


class UptimeMemo:
    """The window each page's bars last read, with the rows worked out from it."""

    def __init__(self) -> None:
        self._pages: dict[str, _Window] = {}

    def get(self, page_id: str, key: tuple[int, datetime, tuple[str, ...]]) -> _Window | None:
        found = self._pages.get(page_id)
        return found if found is not None and found.key == key else None

    def keep(self, page_id: str, found: _Window) -> None:
        """Keep ``found`` for the page, with the rows of the window it replaces that can
        still serve: those of components whose ledger rows are the same (after a write, all
        but the few it touched), and those of groups."""
        before = self._pages.get(page_id)
        self._pages[page_id] = found
        if before is None or before.key[1:] != found.key[1:]:
            return
        component_ids = found.key[2]
        for cid in component_ids:
            entry = before.bars.get(cid)
            old = before.components.get(cid, _NOTHING)
            if entry is not None and old.points == found.components.get(cid, _NOTHING).points:
                found.bars[cid] = entry
        for row_id, entry in before.bars.items():
            if row_id not in component_ids:  # a group: its members' entries are compared
                found.bars[row_id] = entry  # with its inputs at each use (``_row``)


async def load_uptime(
    session: AsyncSession,
    snapshot: PageSnapshot,
    now: datetime,
    days: int = DAYS,
    memo: UptimeMemo | None = None,
) -> dict[str, UptimeRow]:
    """Uptime rows by component id and by group item id, for what the page displays; with
    ``memo``, what is still valid of an earlier call is taken from it (same result)."""
    page = snapshot.page
    start, _end = window(now, days)
    component_ids = list(snapshot.components_by_id)
    if not component_ids:
        return {}
    key = (page.content_version, start, tuple(component_ids))
    found = memo.get(page.id, key) if memo is not None else None
    if found is None:
        found = await _read_window(session, page.id, component_ids, start, days, key)
        if memo is not None:
            memo.keep(page.id, found)
    names = await _names(session, found)

    # When data starts: the component's creation, or its first ledger row if earlier
    # (history imported or published retrospectively).
    since = {
        cid: _us(
            min([to_utc(c.created_at), *[to_utc(f) for f in [found.first_seen.get(cid)] if f]]),
            start,
        )
        for cid, c in snapshot.components_by_id.items()
    }
    now_us = _us(now, start)
    # Before today has begun no bar is kept: today's would have no data yet.
    today = (days - 1) * _DAY_US
    steady = now_us > today
    dates = _dates(start, days)
    result: dict[str, UptimeRow] = {}
    per_component: dict[str, tuple[_Bars | None, _Series]] = {}
    for cid in component_ids:
        component = found.components.get(cid, _NOTHING)
        named: tuple[Any, ...] = (cid, tuple(names.get(c, "") for c in component.causes))
        fixed = not component.volatile and since[cid] <= today
        build = partial(_Series.build, component.points, names, now_us)
        entry, series, result[cid] = _row(
            found, cid, named, steady, fixed, since[cid], dates, now_us, build
        )
        per_component[cid] = (entry, series)
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
        parts = [per_component[m] for m in members]
        group_since = min(since[m] for m in members)
        fixed = all(
            not found.components.get(m, _NOTHING).volatile and since[m] <= today for m in members
        )
        merge = partial(_Series.merge, [series for _entry, series in parts])
        entries = tuple(entry for entry, _series in parts)
        _entry, _series, result[node.item.id] = _row(
            found, node.item.id, entries, steady, fixed, group_since, dates, now_us, merge
        )
    return result


_NOTHING = _Component((), (), False)


def _row(
    found: _Window,
    row_id: str,
    inputs: tuple[Any, ...],
    steady: bool,
    fixed: bool,
    since: int,
    dates: tuple[date, ...],
    now: int,
    build: Callable[[], _Series],
) -> tuple[_Bars | None, _Series, UptimeRow]:
    """The row ``row_id`` (see ``_Bars``): what is kept of it in ``found`` when it was worked
    out from equal ``inputs`` and the same ``since``, the rest from ``build()``; kept for later
    renders when ``steady``. With its entry (None when not kept) and its series."""
    known = found.bars.get(row_id)
    if known is None or not steady or known.since != since or known.inputs != inputs:
        series = build()
        row = series.row(dates, since, now)
        if not steady or None in inputs:
            found.bars.pop(row_id, None)
            return None, series, row
        known = _Bars(inputs, since, row.days[:-1], {})
        if fixed:
            known.series, known.today = series, row.days[-1]
        found.bars[row_id] = known
        return known, series, UptimeRow(row.days, row.percent, known.memo, len(known.past))
    if fixed and known.series is not None and known.today is not None:
        days = [*known.past, known.today]
        percent = known.series.percent(len(dates), since, now)
        return known, known.series, UptimeRow(days, percent, known.memo, len(days))
    series = build()
    row = series.row(dates, since, now, known.past)
    return known, series, UptimeRow(row.days, row.percent, known.memo, len(known.past))


async def _read_window(
    session: AsyncSession,
    page_id: str,
    component_ids: list[str],
    start: datetime,
    days: int,
    key: tuple[int, datetime, tuple[str, ...]],
) -> _Window:
    """Read 1 to 3 of the module's docstring for the window starting at ``start``."""
    # One statement: the window's ledger rows, plus the state at the window's start (every
    # row of the causes still open then, found through the incidents' and windows' own
    # indexes, then the ledger's per-cause indexes, so the history before the window is never
    # scanned). The causes still open at the start are each found as two index ranges (not
    # resolved or complete yet, ended since the start), so that the causes that ended before
    # the window are never read. (An incident has no ``resolved_at`` exactly while it is
    # unresolved.)
    open_incidents = union_all(
        *(
            select(Incident.id).where(
                Incident.status_page_id == page_id, still_open, Incident.published_at < start
            )
            for still_open in (UNRESOLVED, Incident.resolved_at >= start)
        )
    )
    open_maintenances = union_all(
        *(
            select(Maintenance.id).where(
                Maintenance.status_page_id == page_id, still_open, Maintenance.started_at < start
            )
            for still_open in (
                Maintenance.completed_at.is_(None),
                Maintenance.completed_at >= start,
            )
        )
    )
    csc = ComponentStatusChange
    found = await session.execute(
        union_all(
            select(*_LEDGER_COLUMNS).where(
                csc.incident_id.in_(open_incidents), csc.occurred_at < start
            ),
            select(*_LEDGER_COLUMNS).where(
                csc.maintenance_id.in_(open_maintenances), csc.occurred_at < start
            ),
            select(*_LEDGER_COLUMNS).where(
                csc.status_page_id == page_id,
                csc.component_id.in_(component_ids),
                csc.occurred_at >= start,
            ),
        )
    )
    unique = {r[0]: r for r in found.all()}
    # (occurred_at, seq, id): the ledger's order.
    rows = sorted(unique.values(), key=itemgetter(5, 6, 0))

    # Everything below is in whole microseconds from the window's start (exact, like
    # ``timedelta``, and several times cheaper than datetime arithmetic).
    by_component: dict[str, list[_Point]] = {}
    incidents: dict[str, None] = {}
    maintenances: dict[str, None] = {}
    naive_start = start.replace(tzinfo=None)
    for r in rows:
        at = r[5]
        if r[2] is not None:
            incidents[r[2]] = None
        elif r[3] is not None:
            maintenances[r[3]] = None
        by_component.setdefault(r[1], []).append(
            _Point(
                r[2] or r[3] or "",
                r[2] is not None,
                r[4],
                (at - (naive_start if at.tzinfo is None else start)) // _ONE_US,
            )
        )
    today = (days - 1) * _DAY_US
    return _Window(
        key,
        {cid: _component(points, today) for cid, points in by_component.items()},
        await _first_seen(session, page_id, component_ids),
        list(incidents),
        list(maintenances),
    )


def _component(points: list[_Point], today: int) -> _Component:
    last: dict[str, str] = {}
    for point in points:
        last[point.cause] = point.status
    volatile = any(s != "operational" for s in last.values()) or (
        bool(points) and points[-1].at >= today
    )
    return _Component(tuple(points), tuple(last), volatile)


_NAMES = [
    (cause, select(model.id, model.name).where(model.id.in_(bindparam("ids", expanding=True))))
    for cause, model in (("incident_ids", Incident), ("maintenance_ids", Maintenance))
]


async def _names(session: AsyncSession, found: _Window) -> dict[str, str]:
    """The current name of every cause in the window (a rename does not touch the ledger)."""
    names: dict[str, str] = {}
    for cause, statement in _NAMES:
        ids = getattr(found, cause)
        if ids:
            rows = await session.execute(statement, {"ids": padded(ids)})
            names.update((cause_id, name) for cause_id, name in rows)
    return names


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


@dataclass(eq=False)
class _Series:
    """One component's (or a group's merged) down intervals and per-cause status spans, in
    microseconds from the window's start. (Equal only to itself: ``_Bars`` compares the series
    a group was merged from by identity.)"""

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

    def row(
        self, dates: tuple[date, ...], since: int, now: int, keep: Sequence[DayBar] = ()
    ) -> UptimeRow:
        """Daily bars and the window's percentage, in one pass over intervals and spans
        (each is added to the days it touches), so the cost is linear in what the window holds.
        The first ``len(keep)`` days are ``keep`` (worked out before from the same series):
        only the days after them are worked out.
        """
        days = len(dates)
        kept = len(keep)
        cut = kept * _DAY_US
        down_by_day: dict[int, int] = {}
        for a, b in self.down:
            if b <= cut:
                continue
            for index in _days_touched(a if a > cut else cut, b, days):
                lo = index * _DAY_US
                hi = lo + _DAY_US
                down = (b if b < hi else hi) - (a if a > lo else lo)
                down_by_day[index] = down_by_day.get(index, 0) + down
        causes_by_day: dict[int, dict[str, DayIncident]] = {}
        for cause, kind, name, status, rank, a, b in self.spans:
            if b <= cut:
                continue
            for index in _days_touched(a if a > cut else cut, b, days):
                found = causes_by_day.get(index)
                if found is None:
                    found = causes_by_day[index] = {}
                known = found.get(cause)
                if known is None or rank > SEVERITY.get(known.status, 0):
                    found[cause] = DayIncident(cause, name, kind, status)
        # Every day starts as a whole day on which nothing happened (the common case); only
        # the days that are not wholly covered (before ``since``, today, the future) or on
        # which something happened are worked out.
        bars = [*keep, *_quiet_days(dates)[kept:]]
        first, last = max(kept, -(-since // _DAY_US)), max(kept, min(days, now // _DAY_US))
        todo = {*down_by_day, *causes_by_day}
        if first < last:
            todo.update(range(kept, first))
            todo.update(range(last, days))
        else:
            todo.update(range(kept, days))
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
        return UptimeRow(bars, self.percent(days, since, now))

    def percent(self, days: int, since: int, now: int) -> str | None:
        """The window's percentage: its covered part, ``[since, now)`` within the window."""
        total_lo = since if since > 0 else 0
        end = days * _DAY_US
        total_hi = now if now < end else end
        if total_hi <= total_lo:
            return None
        down_all = 0
        for a, b in self.down:
            lo, hi = max(a, total_lo), min(b, total_hi)
            if hi > lo:
                down_all += hi - lo
        return _floor_percent_us(total_hi - total_lo, down_all)


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
