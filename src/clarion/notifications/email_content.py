"""What a notification e-mail says: the facts of the incident or window, in words and in the
page's time zone, taken from the payload snapshotted at fan-out.

Every incident and maintenance e-mail states the name, the status, the impact (for an incident
the worst status it has given any of its components, as Statuspage's ``impact`` is derived,
with what it is now when that is less; for a window *under maintenance*, during or ahead of
it), the affected components by name, the times in the page's time zone (abbreviation and UTC
offset shown), the update's message (safe Markdown) and the permalink of the incident or
window. No raw timestamp reaches either part.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

from clarion.components.ledger import SEVERITY
from clarion.notifications.outbox import CONFIRM_KIND, REMINDER_KIND
from clarion.public.feeds import COMPONENT_WORDS, STATUS_WORDS
from clarion.public.markdown import render_markdown
from clarion.timeutil import parse_ts

NO_IMPACT = "none"
#: The impact of a window, by its status: ahead of it, the reader learns what it will do.
MAINTENANCE_IMPACT = {
    "maintenance_scheduled": ("under_maintenance", "Under maintenance", "during the window"),
    "maintenance_in_progress": ("under_maintenance", "Under maintenance", ""),
    "maintenance_complete": (NO_IMPACT, "None", "the window is over"),
}
#: Colours of the impact label in the HTML part: white text on each has at least 4.5:1. An
#: incident that is over is shown in the neutral one, whatever it was at worst.
IMPACT_COLOURS = {
    NO_IMPACT: "#59636e",
    "under_maintenance": "#0b57d0",
    "degraded_performance": "#8a5300",
    "partial_outage": "#b13d00",
    "full_outage": "#b42318",
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@lru_cache(maxsize=256)
def page_zone(name: str | None) -> tzinfo:
    """The page's IANA zone; UTC when it has none or names one this system does not know."""
    try:
        return ZoneInfo(name or "Etc/UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _zone_label(local: datetime) -> str:
    """``CET (UTC+01:00)``; ``UTC``; ``UTC-03:00`` where the zone's abbreviation is a number."""
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    name = local.tzname() or ""
    if name == "UTC" or (minutes == 0 and not name):
        return "UTC"
    sign = "+" if minutes >= 0 else "-"
    numeric = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if not name or not name[0].isalpha():
        return numeric
    return f"{name} ({numeric})"


def _day(local: datetime) -> str:
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"


def format_moment(moment: datetime, zone: tzinfo) -> str:
    """``Sat 5 Dec 2026, 03:00 CET (UTC+01:00)``: a moment as a reader of the page says it."""
    local = moment.astimezone(zone)
    return f"{_day(local)}, {local:%H:%M} {_zone_label(local)}"


def format_window(start: datetime, end: datetime, zone: tzinfo) -> str:
    """``Sat 5 Dec 2026, 03:00 to 05:00 CET (UTC+01:00)``; the end's day is repeated when it
    differs, and its zone when the offset changes inside the window (DST)."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    if _zone_label(first) != _zone_label(last):
        return f"{format_moment(first, zone)} to {format_moment(last, zone)}"
    label = _zone_label(last)
    if _day(first) == _day(last):
        return f"{_day(first)}, {first:%H:%M} to {last:%H:%M} {label}"
    return f"{_day(first)}, {first:%H:%M} to {_day(last)}, {last:%H:%M} {label}"


#: A time of day with its zone (``21:00 EST (UTC-05:00)``, ``04:30 UTC``): never broken
#: across lines, and never at the offset's minus sign.
_TIME_OF_DAY = re.compile(
    r"\d\d:\d\d(?: (?:[A-Z][A-Za-z]* \(UTC[+-]\d\d:\d\d\)|UTC[+-]\d\d:\d\d|[A-Z][A-Za-z]*))?"
)


def time_html(text: str) -> Markup:
    """``text`` (a formatted moment or window) as HTML whose times stay on one line."""
    escaped = str(escape(text))
    # Safe: the text is escaped first, and the pattern matches only digits, letters, spaces,
    # brackets and signs, which escaping leaves alone.
    return Markup(  # noqa: S704
        _TIME_OF_DAY.sub(lambda m: f'<span style="white-space:nowrap">{m.group(0)}</span>', escaped)
    )


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_ts(value)
    except ValueError:
        return None


def _worst(statuses: list[str]) -> str:
    """The worst of ``statuses`` as the ledger ranks them; ``none`` when all are operational."""
    known = [s for s in statuses if SEVERITY.get(s, 0) > 0]
    return max(known, key=SEVERITY.__getitem__, default=NO_IMPACT)


def _incident_facts(
    data: dict[str, Any], update: dict[str, Any], names: dict[str, str], zone: tzinfo
) -> dict[str, Any]:
    incident: dict[str, Any] = data.get("incident") or {}
    statuses = [str(i.get("component_status")) for i in incident.get("component_impacts", [])]
    for each in [update, *incident.get("updates", [])]:
        statuses += [str(c.get("component_status")) for c in each.get("component_statuses", [])]
    impact = _worst(statuses)
    resolved = update.get("incident_status") == "resolved"
    # Each component's status as this update left it: stated by the update, else its open
    # impact at the time (the payload is a snapshot); resolving makes every one operational.
    now: dict[str, str] = {}
    if resolved:
        now = dict.fromkeys(names, "operational")
    else:
        for i in incident.get("component_impacts", []):
            if not i.get("end_at"):
                now[str(i.get("component_id"))] = str(i.get("component_status"))
    for c in update.get("component_statuses", []):
        now[str(c.get("component_id"))] = str(c.get("component_status"))
    components = [
        f"{name} ({COMPONENT_WORDS[now[cid]]})" if now.get(cid) in COMPONENT_WORDS else name
        for cid, name in names.items()
    ]
    note = ""
    if impact == NO_IMPACT:
        words = "None reported"
    else:
        words = COMPONENT_WORDS[impact]
        current = _worst(list(now.values()))
        if resolved:
            note = "at worst; resolved"
        elif current != impact:
            lower = COMPONENT_WORDS.get(current, "operational").lower()
            note = f"at worst; now {lower}"
    times: list[tuple[str, str]] = []
    started = _moment(incident.get("published_at"))
    posted = _moment(update.get("published_at"))
    if started is not None:
        times.append(("Started", format_moment(started, zone)))
    if posted is not None and posted != started:
        times.append(("Resolved" if resolved else "Updated", format_moment(posted, zone)))
    return {
        "impact": words,
        "impact_note": note,
        "impact_key": NO_IMPACT if resolved else impact,
        "components": components,
        "times": times,
        "path": f"incidents/{incident.get('id', '')}",
        "link_label": "View this incident",
    }


def _maintenance_facts(
    kind: str,
    status: str,
    data: dict[str, Any],
    update: dict[str, Any],
    names: dict[str, str],
    zone: tzinfo,
) -> dict[str, Any]:
    window: dict[str, Any] = data.get("maintenance") or {}
    impact_key, impact, note = MAINTENANCE_IMPACT.get(
        status, ("under_maintenance", "Under maintenance", "")
    )
    times: list[tuple[str, str]] = []
    start, end = _moment(window.get("start_at")), _moment(window.get("end_at"))
    if start is not None and end is not None:
        times.append(("Window", format_window(start, end, zone)))
    posted = _moment(update.get("published_at"))
    label = {"maintenance.started": "Started", "maintenance.completed": "Completed"}.get(
        kind, "Updated" if kind == "maintenance.updated" else ""
    )
    if posted is not None and label:
        times.append((label, format_moment(posted, zone)))
    return {
        "impact": impact,
        "impact_note": note,
        "impact_key": impact_key,
        "components": list(names.values()),
        "times": times,
        "path": f"maintenance/{window.get('id', '')}",
        "link_label": "View this maintenance window",
    }


def content(
    row_kind: str, payload: object, page_name: str, time_zone: str | None
) -> dict[str, Any]:
    """What the templates show for one outbox row (the same for every recipient of an event).

    ``path`` is the permalink relative to the page's public URL; the caller makes it absolute.
    """
    data: dict[str, Any] = payload.get("data", {}) if isinstance(payload, dict) else {}
    update: dict[str, Any] = data.get("update") or {}
    subject_obj: dict[str, Any] = data.get("incident") or data.get("maintenance") or {}
    name = str(subject_obj.get("name") or "")
    status = str(update.get("incident_status") or update.get("maintenance_status") or "")
    if row_kind == REMINDER_KIND or not status:
        # A reminder is about the window as it is, whatever its latest update said.
        status = str(subject_obj.get("maintenance_status") or status)
    word = STATUS_WORDS.get(status, status.replace("_", " ").capitalize())
    markdown = str(update.get("message") or "")
    if row_kind == CONFIRM_KIND:
        subject = f"Confirm your subscription to {page_name}"
    elif row_kind == REMINDER_KIND:
        subject = f"[{page_name}] Reminder: {name} starts soon"
    else:
        subject = f"[{page_name}] {word}: {name}" if word else f"[{page_name}] {name}"
    values: dict[str, Any] = {
        "kind": row_kind,
        "subject": subject,
        "name": name,
        "status": word,
        "message_html": style_message(render_markdown(markdown)),
        "message_text": markdown_to_text(markdown),
    }
    if row_kind == CONFIRM_KIND:
        return values
    names = {
        str(c.get("id")): str(c.get("name") or "")
        for c in data.get("affected_components", [])
        if isinstance(c, dict)
    }
    zone = page_zone(time_zone)
    if "incident" in data:
        values.update(_incident_facts(data, update, names, zone))
    else:
        values.update(_maintenance_facts(row_kind, status, data, update, names, zone))
    values["impact_colour"] = IMPACT_COLOURS.get(values["impact_key"], IMPACT_COLOURS[NO_IMPACT])
    return values


# -- the message -----------------------------------------------------------------------------

#: Inline styles for the tags the safe renderer lets through, so that the message reads well
#: in clients that drop ``<style>`` and long lines or words never widen the e-mail.
_TAG_STYLES = {
    "a": "color:#0b57d0;overflow-wrap:anywhere;word-break:break-word;",
    "pre": "white-space:pre-wrap;overflow-wrap:anywhere;background:#f5f6f8;padding:8px;"
    "border-radius:4px;font-size:14px;",
    "code": "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:14px;",
    "blockquote": "margin:0 0 12px;padding:0 0 0 12px;border-left:3px solid #d1d9e0;color:#424a53;",
    "table": "border-collapse:collapse;max-width:100%;",
    "th": "border:1px solid #d1d9e0;padding:4px 8px;text-align:left;",
    "td": "border:1px solid #d1d9e0;padding:4px 8px;",
}
_OPENING = re.compile(r"<(a|pre|code|blockquote|table|th|td)(?=[\s>])")


def style_message(safe_html: str) -> str:
    """``safe_html`` (the sanitiser's output, which carries no ``style``) with inline styles."""
    return _OPENING.sub(lambda m: f'<{m.group(1)} style="{_TAG_STYLES[m.group(1)]}"', safe_html)


_BLOCK_END = re.compile(r"</(p|h[1-6]|blockquote|pre|table|tr|ul|ol)>", re.IGNORECASE)
_BREAK = re.compile(r"<(br|hr)\s*/?>", re.IGNORECASE)
_ITEM = re.compile(r"<li[^>]*>", re.IGNORECASE)
_LINK = re.compile(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_BLANKS = re.compile(r"\n{3,}")
_RAW_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def markdown_to_text(markdown: str) -> str:
    """Readable plain text from Markdown, through the same safe renderer as the HTML part
    (so nothing the HTML part drops reappears here): links become ``text (url)``."""
    rendered = render_markdown(markdown)

    def link(match: re.Match[str]) -> str:
        url, label = html.unescape(match.group(1)), match.group(2)
        return label if _TAG.sub("", label).strip() == url else f"{label} ({url})"

    text = _LINK.sub(link, rendered)
    text = _BLOCK_END.sub("\n\n", text)
    text = _BREAK.sub("\n", text)
    text = _ITEM.sub("- ", text)
    text = html.unescape(_TAG.sub("", text))
    # Raw HTML the author typed came through as text; a text part has no use for tags.
    text = _RAW_TAG.sub("", text)
    return _BLANKS.sub("\n\n", text).strip()
