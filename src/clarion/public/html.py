"""The public site's HTML: Jinja2 templates (autoescaped) and what each page reads.

Each ``render_*`` function reads what its page needs inside the given session and returns the
bytes; ``routes.py`` caches them. The pages of incidents, windows and months are made by
``incident_page``, ``maintenance_page`` and ``history_page`` from views read beforehand, which
the export (``public/export``) reads in batches: the live site and the export are the same
bytes.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from clarion.components.ledger import SEVERITY, worst
from clarion.incidents.models import Incident
from clarion.incidents.service import IncidentView
from clarion.lru import MIB, bytes_memo
from clarion.maintenances.models import Maintenance
from clarion.maintenances.view import MaintenanceView
from clarion.public.cache import RenderContext
from clarion.public.markdown import cached_markdown, cached_plain
from clarion.public.snapshot import PageSnapshot, recent_resolved
from clarion.public.uptime import DayBar, UptimeMemo, UptimeRow, load_uptime
from clarion.public.visibility import load_public_incidents, load_public_maintenances
from clarion.timeutil import format_ts, to_utc

STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "full_outage": "Full outage",
    "under_maintenance": "Under maintenance",
    "nodata": "No data",
}
BANNERS = {
    "operational": "All systems operational",
    "degraded_performance": "Some systems are degraded",
    "partial_outage": "Partial outage",
    "full_outage": "Major outage",
    "under_maintenance": "Maintenance in progress",
}
INCIDENT_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}
MAINTENANCE_LABELS = {
    "maintenance_scheduled": "Scheduled",
    "maintenance_in_progress": "In progress",
    "maintenance_complete": "Completed",
}
IN_PROGRESS = "maintenance_in_progress"
SCHEDULED = "maintenance_scheduled"
HISTORY_MONTH_LIMIT = 500
T = TypeVar("T")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month | None:
        """``YYYY-MM`` or None."""
        try:
            year, month = text.split("-")
            if len(year) != 4 or len(month) != 2:
                return None
            value = cls(int(year), int(month))
        except ValueError:
            return None
        return value if 1 <= value.month <= 12 and 1970 <= value.year <= 9999 else None

    @classmethod
    def of(cls, moment: datetime) -> Month:
        return cls(moment.year, moment.month)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=calendar.monthrange(self.year, self.month)[1])

    @property
    def label(self) -> str:
        return f"{calendar.month_name[self.month]} {self.year}"

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)


def _time(moment: datetime | None, style: str = "datetime") -> Markup:
    """A ``<time>`` in UTC; ``static/clarion.js`` rewrites it in the reader's zone."""
    if moment is None:
        return Markup("")
    utc = to_utc(moment)
    iso = format_ts(utc, "seconds")
    if style == "date":
        text = f"{utc.day} {utc:%b %Y}"
    else:
        text = f"{utc.day} {utc:%b %Y}, {utc:%H:%M} UTC"
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(iso, style, text)


def _markdown(text: str | None) -> Markup:
    # Safe by construction: render_markdown escapes raw HTML and nh3 enforces an allow-list.
    return Markup(cached_markdown(text or ""))  # noqa: S704


def _day_label(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


#: Short status classes of the bar cells (``bar--<status>`` stays for the legend's swatches).
BAR_CLASSES = {
    "operational": "s-ok",
    "degraded_performance": "s-dg",
    "partial_outage": "s-po",
    "full_outage": "s-fo",
    "under_maintenance": "s-um",
    "nodata": "s-nd",
}


def _bar_cell(bar: DayBar, current: bool = False) -> str:
    """The ``<li>`` of one day: an option of its row's listbox, named by its ``aria-label``.
    A day with nothing to tell but its figure is a bare element whose tooltip is that label,
    shown by CSS (``.bar::after``); a day with incidents or maintenance carries a ``.tip``
    listing them. The ``current`` day (today, until ``static/clarion.js`` moves it) is the
    row's one tab stop.
    """
    if not bar.incidents:
        return _quiet_cell(bar.status, bar.percent, bar.day, current)
    css = BAR_CLASSES.get(bar.status, "s-ok")
    figure = "No data" if bar.percent is None else f"{bar.percent}% uptime"
    # Its lines read as its label does, words apart (WCAG's label in name).
    tip = [f"<strong>{_day_label(bar.day)}</strong> <span>{figure}</span>"]
    for cause in bar.incidents:
        words = STATUS_LABELS.get(cause.status, cause.status).lower()
        cause_css = BAR_CLASSES.get(cause.status, "")
        tip.append(f'<span class="{cause_css}">{escape(cause.name)} ({words})</span>')
    return (
        f'<li class="bar {css} t" role="option" {_focus(current)} aria-label="{escape(bar.label)}">'
        f'<span class="tip" aria-hidden="true">{" ".join(tip)}</span></li>'
    )


@bytes_memo(4 * MIB)
def _quiet_cell(status: str, percent: str | None, day: date, current: bool) -> str:
    """The cell of a day without incidents (see ``_bar_cell``).

    Memoised (by values only, so a budget of bytes bounds it): most cells of every render are
    such days, and read the same from one render to the next. Days with incidents are made
    each time: there are few of them, and their cells hold what writes change.
    """
    label = DayBar(day, percent, status).label
    css = BAR_CLASSES.get(status, "s-ok")
    return f'<li class="bar {css}" role="option" {_focus(current)} aria-label="{label}"></li>'


def _focus(current: bool) -> str:
    return 'tabindex="0" aria-selected="true"' if current else 'tabindex="-1"'


def _bar_items(row: UptimeRow) -> Markup:
    """The ``<li>`` of every day of an uptime row (see ``_bar_cell``), the last one current.

    Built here rather than in the template because a page has 90 of them per component. The
    markup of the row's first ``steady_days`` days (all but the last) is made once
    (``row.memo``), for every later render that takes those days unchanged from
    ``uptime.UptimeMemo``.
    """
    if not row.days:
        return Markup("")
    steady = min(row.steady_days, len(row.days) - 1)
    made: str | None = row.memo.get(("items", steady))
    if made is None:
        made = row.memo[("items", steady)] = "".join(map(_bar_cell, row.days[:steady]))
    # Every dynamic part is escaped (quiet cells hold only dates, figures and fixed words);
    # statuses and figures come from fixed vocabularies.
    rest = "".join(map(_bar_cell, row.days[steady:-1])) + _bar_cell(row.days[-1], True)
    return Markup(made + rest)  # noqa: S704


def label_filters() -> dict[str, Callable[[str], str]]:
    """The template filters that name statuses as readers read them (shared with the
    console)."""
    return {
        "status_label": lambda s: STATUS_LABELS.get(s, s.replace("_", " ").capitalize()),
        "incident_label": lambda s: INCIDENT_LABELS.get(s, s),
        "maintenance_label": lambda s: MAINTENANCE_LABELS.get(s, s),
    }


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("clarion.public", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = _markdown
    env.filters["plain"] = cached_plain
    env.filters["time"] = _time
    env.filters["day"] = _day_label
    env.filters.update(label_filters())
    env.globals["banners"] = BANNERS
    env.globals["bar_items"] = _bar_items
    return env


def _render(template: str, **values: Any) -> bytes:
    return environment().get_template(template).render(**values).encode()


def _incident_status(view: IncidentView, snap: PageSnapshot) -> str:
    """Ongoing: its worst current impact (``operational`` when it has none, e.g. monitoring);
    resolved: its worst impact ever."""
    if view.incident.incident_status == "resolved":
        return worst(i.status for i in view.impacts)
    return worst(i.status for i in view.impacts if i.end_at is None)


def _names(snap: PageSnapshot) -> dict[str, str]:
    return {cid: c.name for cid, c in snap.components_by_id.items()}


def _common(snap: PageSnapshot, ctx: RenderContext, title: str) -> dict[str, Any]:
    return {
        "snap": snap,
        "page": snap.page,
        "ctx": ctx,
        "title": title,
        "names": _names(snap),
        "impact_of": lambda view: _incident_status(view, snap),
        "generated_at": snap.generated_at,
    }


def headline(snap: PageSnapshot) -> str:
    """The banner's words: what readers of the page are told of its state."""
    if snap.overall == "operational" and snap.ongoing_incidents:
        return "We are looking into an issue"
    return BANNERS.get(snap.overall, BANNERS["operational"])


def windows_now(snap: PageSnapshot) -> tuple[list[MaintenanceView], list[MaintenanceView]]:
    """The page's windows in progress, and its upcoming ones (soonest first)."""
    windows = snap.open_maintenances
    in_progress = [m for m in windows if m.maintenance.maintenance_status == IN_PROGRESS]
    upcoming = sorted(
        (m for m in windows if m.maintenance.maintenance_status == SCHEDULED),
        key=lambda m: m.maintenance.start_at,
    )
    return in_progress, upcoming


async def render_index(
    session: AsyncSession,
    snap: PageSnapshot,
    ctx: RenderContext,
    uptime_memo: UptimeMemo | None = None,
) -> bytes:
    """The page: banner, incidents and maintenance in progress, components with uptime bars
    (what is still valid of earlier renders taken from ``uptime_memo``)."""
    mode = snap.page.display_uptime_mode
    uptime: dict[str, UptimeRow] = {}
    if mode != "nothing":
        uptime = await load_uptime(session, snap, ctx.now, memo=uptime_memo)
    in_progress, upcoming = windows_now(snap)
    return _render(
        "page.html",
        **_common(snap, ctx, snap.page.name + " status"),
        uptime=uptime,
        mode=mode,
        in_progress=in_progress,
        upcoming=upcoming,
        recent_resolved=await recent_resolved(session, snap, ctx.now),
        headline=headline(snap),
    )


async def render_incident(
    session: AsyncSession, snap: PageSnapshot, ctx: RenderContext, incident_id: str
) -> bytes | None:
    """The permalink page of one incident; None if the page has no such incident."""
    incident = await session.get(Incident, incident_id)
    if incident is None or incident.status_page_id != snap.page.id:
        return None
    views = await load_public_incidents(session, [incident], snap.hidden_component_ids)
    return incident_page(snap, ctx, views[0])


def incident_page(snap: PageSnapshot, ctx: RenderContext, view: IncidentView) -> bytes:
    """The permalink page of the incident ``view`` shows (read in batches by the export)."""
    return _render(
        "incident.html",
        **_common(snap, ctx, f"{view.incident.name} · {snap.page.name} status"),
        view=view,
    )


async def render_maintenance(
    session: AsyncSession, snap: PageSnapshot, ctx: RenderContext, maintenance_id: str
) -> bytes | None:
    """The permalink page of one maintenance window; None if the page has no such window."""
    row = await session.get(Maintenance, maintenance_id)
    if row is None or row.status_page_id != snap.page.id:
        return None
    return maintenance_page(snap, ctx, (await _maintenance_views(session, snap, [row]))[0])


def maintenance_page(snap: PageSnapshot, ctx: RenderContext, view: MaintenanceView) -> bytes:
    """The permalink page of the window ``view`` shows (read in batches by the export)."""
    return _render(
        "maintenance.html",
        **_common(snap, ctx, f"{view.maintenance.name} · {snap.page.name} status"),
        view=view,
    )


async def _maintenance_views(
    session: AsyncSession, snap: PageSnapshot, rows: list[Maintenance]
) -> list[MaintenanceView]:
    return await load_public_maintenances(session, rows, snap.hidden_component_ids)


async def history_months(session: AsyncSession, snap: PageSnapshot, now: datetime) -> list[Month]:
    """Every month from the page's first incident or maintenance to the current one."""
    first = await session.scalar(
        select(Incident.published_at)
        .where(Incident.status_page_id == snap.page.id)
        .order_by(Incident.published_at)
        .limit(1)
    )
    first_m = await session.scalar(
        select(Maintenance.start_at)
        .where(Maintenance.status_page_id == snap.page.id)
        .order_by(Maintenance.start_at)
        .limit(1)
    )
    begin = min([to_utc(x) for x in (first, first_m) if x is not None] or [now])
    month, last, found = Month.of(begin), Month.of(now), []
    while (month.year, month.month) <= (last.year, last.month):
        found.append(month)
        month = month.next()
    return found


async def render_history(
    session: AsyncSession, snap: PageSnapshot, ctx: RenderContext, month: Month
) -> bytes:
    """Incidents and maintenance of one UTC month, newest first."""
    views, windows = await month_contents(session, snap, month, HISTORY_MONTH_LIMIT)
    months = await history_months(session, snap, ctx.now)
    return history_page(snap, ctx, month, views, windows, months)


async def month_contents(
    session: AsyncSession, snap: PageSnapshot, month: Month, limit: int | None
) -> tuple[list[IncidentView], list[MaintenanceView]]:
    """The incidents published and the windows starting in ``month`` (UTC), newest first, at
    most ``limit`` of each (None: all of them, as the export reads them)."""
    incidents = _in_month(select(Incident), Incident.published_at, Incident.id, snap, month)
    windows = _in_month(select(Maintenance), Maintenance.start_at, Maintenance.id, snap, month)
    if limit is not None:
        incidents, windows = incidents.limit(limit), windows.limit(limit)
    views = await load_public_incidents(
        session, list((await session.scalars(incidents)).all()), snap.hidden_component_ids
    )
    rows = list((await session.scalars(windows)).all())
    return views, await _maintenance_views(session, snap, rows) if rows else []


def _in_month(
    query: Select[T],
    moment: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    snap: PageSnapshot,
    month: Month,
) -> Select[T]:
    """``query`` narrowed to the page's rows whose ``moment`` falls in ``month``, newest first."""
    page_column = moment.class_.status_page_id
    return query.where(
        page_column == snap.page.id, moment >= month.start, moment < month.end
    ).order_by(moment.desc(), row_id.desc())


def history_page(
    snap: PageSnapshot,
    ctx: RenderContext,
    month: Month,
    views: list[IncidentView],
    windows: list[MaintenanceView],
    months: list[Month],
) -> bytes:
    """The history of ``month``: the first ``HISTORY_MONTH_LIMIT`` of ``views`` and of
    ``windows`` (``month_contents``), and links to ``months`` (``history_months``)."""
    current = Month.of(ctx.now)
    earliest = months[0] if months else current
    prev_month = month.previous()
    has_prev = (prev_month.year, prev_month.month) >= (earliest.year, earliest.month)
    next_month = month.next()
    has_next = (next_month.year, next_month.month) <= (current.year, current.month)
    return _render(
        "history.html",
        **_common(snap, ctx, f"{month.label} · {snap.page.name} status history"),
        month=month,
        views=views[:HISTORY_MONTH_LIMIT],
        maintenances=windows[:HISTORY_MONTH_LIMIT],
        prev_month=prev_month if has_prev else None,
        next_month=next_month if has_next else None,
        months=list(reversed(months)),
    )


def render_not_found(
    ctx: RenderContext | None, page_name: str | None, static_root: str = "/static/"
) -> bytes:
    """The 404 page; ``static_root`` is where assets are when no page is known."""
    return _render("not_found.html", ctx=ctx, page_name=page_name, static_root=static_root)


def severity(status: str) -> int:
    return SEVERITY.get(status, 0)
