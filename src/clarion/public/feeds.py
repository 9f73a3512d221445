"""Feeds of a status page: Atom and RSS of incidents and maintenance, iCalendar of maintenance.

Served as ``feed.atom`` and ``feed.rss`` (and as ``history.atom``/``history.rss``, Statuspage's
names). One feed entry per incident or maintenance window (not per update), as Statuspage's
feeds do: the entry's content is the whole timeline of updates,
newest first, and its ``updated`` moves with each new update, so a feed reader shows one item
that changes rather than a burst of items per incident. See ``docs/feeds.md``.

Update messages are Markdown, rendered by ``render_markdown`` (sanitised HTML) and then
XML-escaped by ElementTree as the ``html`` content of the entry, so nothing an author writes
can become markup of the feed itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any, Protocol
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import icalendar

from clarion.incidents.service import IncidentView
from clarion.lru import bytes_memo
from clarion.maintenances.view import COMPLETE, IN_PROGRESS, MaintenanceView
from clarion.public.cache import RenderContext, ResourceRegistry, register_public_resource
from clarion.public.markdown import TEXT_MEMO_BYTES, cached_markdown, cached_plain, render_plain
from clarion.public.snapshot import PageSnapshot
from clarion.status_pages.service import iter_components
from clarion.text import ical_safe, xml_safe
from clarion.timeutil import format_ts, to_utc

ATOM_PATH = "feed.atom"
RSS_PATH = "feed.rss"
#: The names Atlassian Statuspage uses, served too so links people already have keep working.
ALIASES = {"history.atom": ATOM_PATH, "history.rss": RSS_PATH}
ICAL_PATH = "maintenance.ics"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
RSS_TYPE = "application/rss+xml; charset=utf-8"
ICAL_TYPE = "text/calendar; charset=utf-8"
#: Entries per feed (the most recently updated first).
FEED_CAP = 50
SUMMARY_CHARS = 280
ATOM_NS = "http://www.w3.org/2005/Atom"

STATUS_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "maintenance_scheduled": "Scheduled",
    "maintenance_in_progress": "In progress",
    "maintenance_complete": "Completed",
}
COMPONENT_WORDS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "full_outage": "Full outage",
    "under_maintenance": "Under maintenance",
}


@dataclass(frozen=True)
class _Update:
    status: str
    message: str
    published_at: datetime
    components: list[tuple[str, str]]  # (name, clarion status)


@dataclass(frozen=True)
class Entry:
    """One feed item: an incident or a maintenance window with its updates, newest first."""

    kind: str  # incident | maintenance
    id: str
    title: str
    link: str
    published_at: datetime
    updated_at: datetime
    status: str
    updates: list[_Update]
    window: tuple[datetime, datetime] | None = None  # maintenance: scheduled start and end


def _names(snap: PageSnapshot) -> dict[str, str]:
    return {
        n.component.id: n.component.name for n in iter_components(snap.structure) if n.component
    }


class _UpdateRow(Protocol):
    message: str
    published_at: datetime
    component_statuses: list[Any]


def _updates(
    rows: Sequence[_UpdateRow], statuses: Sequence[str], names: dict[str, str]
) -> list[_Update]:
    return [
        _Update(
            status=status,
            message=row.message,
            published_at=to_utc(row.published_at),
            components=[
                (names.get(c["component_id"], c["component_id"]), c["component_status"])
                for c in row.component_statuses or []
            ],
        )
        for row, status in zip(rows, statuses, strict=True)
    ]


def _incident_entry(view: IncidentView, context: RenderContext, names: dict[str, str]) -> Entry:
    incident = view.incident
    updates = _updates(view.updates, [u.incident_status for u in view.updates], names)
    latest = max([to_utc(incident.published_at), *(u.published_at for u in updates)])
    return Entry(
        kind="incident",
        id=incident.id,
        title=incident.name,
        link=context.url(f"incidents/{incident.id}"),
        published_at=to_utc(incident.published_at),
        updated_at=latest,
        status=incident.incident_status,
        updates=updates,
    )


def _maintenance_entry(
    view: MaintenanceView, context: RenderContext, names: dict[str, str]
) -> Entry:
    window = view.maintenance
    updates = _updates(view.updates, [u.maintenance_status for u in view.updates], names)
    latest = max(
        [to_utc(window.published_at), to_utc(window.updated_at), *(u.published_at for u in updates)]
    )
    return Entry(
        kind="maintenance",
        id=window.id,
        title=window.name,
        link=context.url(f"maintenance/{window.id}"),
        published_at=to_utc(window.published_at),
        updated_at=latest,
        status=window.maintenance_status,
        updates=updates,
        window=(to_utc(window.start_at), to_utc(window.end_at)),
    )


def entries(snap: PageSnapshot, context: RenderContext) -> list[Entry]:
    """Recent incidents and maintenance windows, most recently updated first, capped."""
    names = _names(snap)
    seen: dict[str, IncidentView] = {}
    for view in [*snap.ongoing_incidents, *snap.recent_incidents]:
        seen.setdefault(view.incident.id, view)
    found = [_incident_entry(v, context, names) for v in seen.values()]
    found.extend(_maintenance_entry(v, context, names) for v in snap.maintenances)
    found.sort(key=lambda e: (e.updated_at, e.id), reverse=True)
    return found[:FEED_CAP]


def _when(moment: datetime) -> str:
    """``2025-01-28 10:00 UTC`` (a four-digit year even before 1000, unlike ``strftime``)."""
    return to_utc(moment).replace(tzinfo=None).isoformat(" ", "minutes") + " UTC"


def entry_html(entry: Entry) -> str:
    """The entry's body: its schedule (maintenance) then each update, newest first."""
    parts: list[str] = []
    if entry.window is not None:
        start, end = entry.window
        parts.append(f"<p><strong>Scheduled:</strong> {_when(start)} to {_when(end)}</p>")
    for update in entry.updates:
        word = STATUS_WORDS.get(update.status, update.status)
        parts.append(
            f"<p><strong>{escape(word)}</strong> · "
            f'<time datetime="{_rfc3339(update.published_at)}">{_when(update.published_at)}</time>'
            "</p>"
        )
        parts.append(cached_markdown(update.message))
        if update.components:
            items = "".join(
                f"<li>{escape(name)}: {escape(COMPONENT_WORDS.get(status, status))}</li>"
                for name, status in update.components
            )
            parts.append(f"<ul>{items}</ul>")
    return "\n".join(parts)


def entry_summary(entry: Entry) -> str:
    """Plain text: the status and the latest update's message."""
    word = STATUS_WORDS.get(entry.status, entry.status)
    latest = cached_plain(entry.updates[0].message, SUMMARY_CHARS) if entry.updates else ""
    return f"{word}: {latest}" if latest else word


def _rfc3339(moment: datetime) -> str:
    return format_ts(moment, "seconds")


def _feed_updated(snap: PageSnapshot, items: Sequence[Entry]) -> datetime:
    return max([to_utc(snap.page.changed_at), *(e.updated_at for e in items)])


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """A child element; every text passes ``xml_safe`` (ElementTree escapes markup, but writes
    a control character as it is, which no XML reader accepts)."""
    element = ET.SubElement(parent, tag, {name: xml_safe(value) for name, value in attrs.items()})
    if text is not None:
        element.text = xml_safe(text)
    return element


def render_atom(snap: PageSnapshot, context: RenderContext) -> bytes:
    """Atom 1.0 (RFC 4287) of the page's incidents and maintenance."""
    items = entries(snap, context)
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "en"})
    _sub(feed, "id", context.url(ATOM_PATH))
    _sub(feed, "title", f"{snap.page.name} status")
    if snap.page.description:
        _sub(feed, "subtitle", render_plain(snap.page.description))
    _sub(feed, "updated", _rfc3339(_feed_updated(snap, items)))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=context.url(ATOM_PATH))
    _sub(feed, "link", rel="alternate", type="text/html", href=context.url())
    author = _sub(feed, "author")
    _sub(author, "name", snap.page.name)
    _sub(feed, "generator", "Clarion")
    for item in items:
        entry = _sub(feed, "entry")
        _sub(entry, "id", item.link)
        _sub(entry, "title", item.title)
        _sub(entry, "published", _rfc3339(item.published_at))
        _sub(entry, "updated", _rfc3339(item.updated_at))
        _sub(entry, "link", rel="alternate", type="text/html", href=item.link)
        _sub(entry, "category", term=item.kind)
        _sub(entry, "summary", entry_summary(item))
        _sub(entry, "content", entry_html(item), type="html")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def render_rss(snap: PageSnapshot, context: RenderContext) -> bytes:
    """RSS 2.0 of the page's incidents and maintenance."""
    items = entries(snap, context)
    rss = ET.Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS})
    channel = _sub(rss, "channel")
    _sub(channel, "title", f"{snap.page.name} status")
    _sub(channel, "link", context.url())
    _sub(
        channel,
        "description",
        render_plain(snap.page.description or "")
        or f"Incidents and maintenance of {snap.page.name}",
    )
    _sub(channel, "language", "en")
    _sub(channel, "lastBuildDate", format_datetime(_feed_updated(snap, items), usegmt=True))
    _sub(channel, "generator", "Clarion")
    _sub(
        channel,
        "atom:link",
        href=context.url(RSS_PATH),
        rel="self",
        type="application/rss+xml",
    )
    for item in items:
        element = _sub(channel, "item")
        _sub(element, "title", item.title)
        _sub(element, "link", item.link)
        _sub(element, "guid", item.link, isPermaLink="true")
        _sub(element, "pubDate", format_datetime(item.updated_at, usegmt=True))
        _sub(element, "category", item.kind)
        _sub(element, "description", entry_html(item))
    return bytes(ET.tostring(rss, encoding="utf-8", xml_declaration=True))


def render_ical(snap: PageSnapshot, context: RenderContext) -> bytes:
    """iCalendar (RFC 5545) of the page's maintenance windows, for calendar subscriptions.

    1. One VEVENT per window, ``UID`` = window id @ the page's host: stable across edits, so
       a reschedule moves the event instead of adding one.
    2. ``DTSTAMP`` and ``LAST-MODIFIED`` are the window's last change, and ``SEQUENCE`` grows
       with every change (see ``_sequence``), so clients comparing either take the new times.
    3. Deleted windows disappear from the feed (they are removed, not kept as tombstones);
       subscribed calendars drop them on their next refresh.
    """
    host = urlsplit(context.public_url).hostname or "clarion"
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Clarion//Status page maintenance//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", ical_safe(f"{snap.page.name} maintenance"))
    calendar.add("x-published-ttl", "PT1H")
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    names = _names(snap)
    head = bytes(calendar.to_ical())
    closing = b"END:VCALENDAR\r\n"
    assert head.endswith(closing)
    events = [
        _event(
            EventFacts(
                uid=f"{view.maintenance.id}@{host}",
                updated_at=to_utc(view.maintenance.updated_at),
                created_at=to_utc(view.maintenance.published_at),
                sequence=_sequence(view),
                start_at=to_utc(view.maintenance.started_at or view.maintenance.start_at),
                end_at=to_utc(_end_of(view)),
                summary=ical_safe(view.maintenance.name),
                url=context.url(f"maintenance/{view.maintenance.id}"),
                description=ical_safe(_ical_description(view, names)),
            )
        )
        for view in snap.maintenances
    ]
    return head[: -len(closing)] + b"".join(events) + closing


@dataclass(frozen=True)
class EventFacts:
    """Everything one VEVENT says (hashable: rendered events are cached by their facts)."""

    uid: str
    updated_at: datetime
    created_at: datetime
    sequence: int
    start_at: datetime
    end_at: datetime
    summary: str
    url: str
    description: str


def _end_of(view: MaintenanceView) -> datetime:
    window = view.maintenance
    if window.maintenance_status == COMPLETE and window.completed_at is not None:
        return window.completed_at
    return window.end_at


@bytes_memo(TEXT_MEMO_BYTES)
def _event(facts: EventFacts) -> bytes:
    # icalendar spends about a millisecond per event; most events are the same from one
    # render of the page to the next, so each is built once for the facts it states.
    event = icalendar.Event()
    event.add("uid", facts.uid)
    event.add("dtstamp", facts.updated_at)
    event.add("last-modified", facts.updated_at)
    event.add("created", facts.created_at)
    event.add("sequence", facts.sequence)
    event.add("dtstart", facts.start_at)
    event.add("dtend", facts.end_at)
    event.add("summary", facts.summary)
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    event.add("url", facts.url)
    event.add("categories", ["Maintenance"])
    event.add("description", facts.description)
    return bytes(event.to_ical())


def _sequence(view: MaintenanceView) -> int:
    """Seconds from publication to the window's last change: it grows with every write to the
    window (reschedule, status move, update) and needs no stored counter."""
    window = view.maintenance
    return max(0, int((to_utc(window.updated_at) - to_utc(window.published_at)).total_seconds()))


def _ical_description(view: MaintenanceView, names: dict[str, str]) -> str:
    window = view.maintenance
    lines = [f"Status: {STATUS_WORDS.get(window.maintenance_status, window.maintenance_status)}"]
    affected = [names.get(c, c) for c in view.component_ids]
    if affected:
        lines.append("Affected: " + ", ".join(affected))
    if view.updates:
        lines.append("")
        lines.append(cached_plain(view.updates[0].message))
    if window.maintenance_status == IN_PROGRESS:
        lines.append("")
        lines.append("This maintenance is in progress.")
    return "\n".join(lines)


def register_resources(registry: ResourceRegistry) -> None:
    """Serve the Atom, RSS and iCalendar feeds under each page (readable from any origin, for
    web-based feed readers and calendar widgets)."""
    cors = {"Access-Control-Allow-Origin": "*"}
    register_public_resource(registry, ATOM_PATH, ATOM_TYPE, render_atom, headers=cors)
    register_public_resource(registry, RSS_PATH, RSS_TYPE, render_rss, headers=cors)
    register_public_resource(registry, ICAL_PATH, ICAL_TYPE, render_ical, headers=cors)
    for alias, path in ALIASES.items():
        render = render_atom if path == ATOM_PATH else render_rss
        content_type = ATOM_TYPE if path == ATOM_PATH else RSS_TYPE
        register_public_resource(registry, alias, content_type, render, headers=cors)
