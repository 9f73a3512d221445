"""Atlassian Statuspage's public JSON (``/api/v2/*.json``), rendered from a page snapshot.

The shapes, key order, enums and status mapping are documented in ``docs/public-json.md``.
Unlike the incident.io API, ``null`` is part of this format: keys are always present and may
be ``null``. Everything here is a pure function of a :class:`PageSnapshot` and the public URL
the request came in on (its slug path or its own domain).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from clarion.components.ledger import worst
from clarion.incidents.service import IncidentView
from clarion.maintenances.view import IN_PROGRESS, SCHEDULED, MaintenanceView
from clarion.public.cache import (
    RenderContext,
    RenderFn,
    ResourceRegistry,
    register_public_resource,
)
from clarion.public.snapshot import PageSnapshot
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import StructureNode
from clarion.timeutil import to_utc

#: Lists in this format are capped, with no pagination (Statuspage does the same).
LIST_CAP = 50
JSON_TYPE = "application/json"

COMPONENT_STATUS = {
    "operational": "operational",
    "degraded_performance": "degraded_performance",
    "partial_outage": "partial_outage",
    "full_outage": "major_outage",
    "under_maintenance": "under_maintenance",
}
MAINTENANCE_STATUS = {
    "maintenance_scheduled": "scheduled",
    "maintenance_in_progress": "in_progress",
    "maintenance_complete": "completed",
}
#: Worst impact status of an incident -> its Statuspage ``impact``.
IMPACT = {
    "degraded_performance": "minor",
    "partial_outage": "major",
    "full_outage": "critical",
}
INDICATOR_DESCRIPTION = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
_INDICATOR_RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
UNRESOLVED = ("investigating", "identified", "monitoring")


@dataclass
class Source:
    """A snapshot seen from one public URL, with what this format derives from it."""

    snap: PageSnapshot
    url: str

    def __post_init__(self) -> None:
        self.page = self.snap.page
        self.structure = self.snap.structure
        self.statuses = self.snap.component_status
        self.maintenances: list[MaintenanceView] = list(self.snap.maintenances)
        self.changed_at = _changed_at(self.snap, self.maintenances)


def _changed_at(snap: PageSnapshot, windows: Sequence[MaintenanceView]) -> dict[str, datetime]:
    """When each component last changed status, as far as the snapshot's incidents and windows
    tell (components untouched by them fall back to their own ``updated_at``)."""
    found: dict[str, datetime] = {}

    def seen(component_id: str, moment: datetime | None) -> None:
        if moment is None:
            return
        moment = to_utc(moment)
        if moment <= to_utc(snap.generated_at) and (
            component_id not in found or moment > found[component_id]
        ):
            found[component_id] = moment

    for view in [*snap.recent_incidents, *snap.ongoing_incidents]:
        for impact in view.impacts:
            seen(impact.component_id, impact.start_at)
            seen(impact.component_id, impact.end_at)
    for window in windows:
        m = window.maintenance
        for component_id in window.component_ids:
            seen(component_id, m.started_at)
            seen(component_id, m.completed_at)
    return found


# ---------------------------------------------------------------------------------------------
# Rendering


def page_zone(page: StatusPage) -> tzinfo:
    try:
        return ZoneInfo(page.time_zone or "Etc/UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def ts(moment: datetime | None, zone: tzinfo) -> str | None:
    """Millisecond ISO 8601 in the page's zone: ``Z`` for UTC, else the offset."""
    if moment is None:
        return None
    local = to_utc(moment).astimezone(zone)
    text = local.isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z" if local.utcoffset() == UTC.utcoffset(None) else text


def _page(data: Source, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": data.page.id,
        "name": data.page.name,
        "url": data.url,
        "time_zone": data.page.time_zone or "Etc/UTC",
        "updated_at": ts(data.page.changed_at, zone),
    }


def _visible(nodes: Iterable[StructureNode]) -> list[StructureNode]:
    """Shown items in order; a sub-page's items take its place (Statuspage has no sub-pages)."""
    found: list[StructureNode] = []
    for node in nodes:
        if node.item.hidden:
            continue
        if node.item.kind == "sub_page":
            found.extend(_visible(node.children))
        elif node.item.kind == "group" or node.component is not None:
            found.append(node)
    return found


def _component(
    data: Source, node: StructureNode, position: int, group_id: str | None, zone: tzinfo
) -> dict[str, Any]:
    component = node.component
    assert component is not None
    changed = data.changed_at.get(component.id)
    updated = max(to_utc(component.updated_at), changed) if changed else component.updated_at
    return {
        "id": component.id,
        "name": component.name,
        "status": COMPONENT_STATUS.get(
            data.statuses.get(component.id, "operational"), "operational"
        ),
        "created_at": ts(component.created_at, zone),
        "updated_at": ts(updated, zone),
        "position": position,
        "description": component.description or None,
        "showcase": node.item.display_uptime,
        "start_date": to_utc(component.created_at).astimezone(zone).date().isoformat(),
        "group_id": group_id,
        "page_id": data.page.id,
        "group": False,
        "only_show_if_degraded": False,
    }


def components_list(data: Source, zone: tzinfo) -> list[dict[str, Any]]:
    """The flat list: each group followed by its members (``group_id`` set), in page order."""
    found: list[dict[str, Any]] = []
    for position, node in enumerate(_visible(data.structure), start=1):
        if node.item.kind != "group":
            found.append(_component(data, node, position, None, zone))
            continue
        members = [c for c in node.children if not c.item.hidden and c.component is not None]
        children = [
            _component(data, child, n, node.item.id, zone)
            for n, child in enumerate(members, start=1)
        ]
        clarion_status = worst(data.statuses.get(c["id"], "operational") for c in children)
        stamps = [data.page.created_at, *(data.changed_at.get(c["id"]) for c in children)]
        found.append(
            {
                "id": node.item.id,
                "name": node.item.name or "",
                "status": COMPONENT_STATUS.get(clarion_status, "operational"),
                "created_at": ts(data.page.created_at, zone),
                "updated_at": ts(max(to_utc(s) for s in stamps if s is not None), zone),
                "position": position,
                "description": node.item.description or None,
                "showcase": False,
                "start_date": None,
                "group_id": None,
                "page_id": data.page.id,
                "group": True,
                "only_show_if_degraded": False,
                "components": [c["id"] for c in children],
            }
        )
        found.extend(children)
    return found


def incident_impact(view: IncidentView) -> str:
    """Statuspage ``impact``: from the worst status the incident ever gave a component."""
    statuses = [i.status for i in view.impacts]
    for update in view.updates:
        statuses.extend(c["component_status"] for c in update.component_statuses)
    return IMPACT.get(worst(statuses), "none")


def _affected(
    statuses: Sequence[Mapping[str, str]],
    before: dict[str, str],
    names: Mapping[str, str],
    mapping: Callable[[str], str],
) -> list[dict[str, Any]] | None:
    if not statuses:
        return None
    found = []
    for entry in statuses:
        component_id = entry["component_id"]
        new = entry["component_status"]
        found.append(
            {
                "code": component_id,
                "name": names.get(component_id, ""),
                "old_status": mapping(before.get(component_id, "operational")),
                "new_status": mapping(new),
            }
        )
        before[component_id] = new
    return found


def _component_status(status: str) -> str:
    return COMPONENT_STATUS.get(status, "operational")


@dataclass
class _Context:
    data: Source
    zone: tzinfo
    components: dict[str, dict[str, Any]]  # id -> rendered component (not groups)
    names: dict[str, str]

    rendered: list[dict[str, Any]]  # the flat components list, groups included

    @classmethod
    def of(cls, data: Source) -> _Context:
        zone = page_zone(data.page)
        rendered = components_list(data, zone)
        by_id = {c["id"]: c for c in rendered if not c["group"]}
        names = {
            n.component.id: n.component.name
            for n in _all_components(data.structure)
            if n.component is not None
        }
        return cls(data, zone, by_id, names, rendered)

    def permalink(self, kind: str, item_id: str) -> str:
        return f"{self.data.url}/{kind}/{item_id}"


def _all_components(nodes: Iterable[StructureNode]) -> list[StructureNode]:
    found: list[StructureNode] = []
    for node in nodes:
        if node.component is not None:
            found.append(node)
        found.extend(_all_components(node.children))
    return found


def incident_json(view: IncidentView, cx: _Context) -> dict[str, Any]:
    incident, zone = view.incident, cx.zone
    before: dict[str, str] = {}
    rendered_updates: list[dict[str, Any]] = []
    monitoring_at: datetime | None = None
    touched: list[str] = []
    for update in reversed(view.updates):  # oldest first, to know each old_status
        if update.incident_status == "monitoring" and monitoring_at is None:
            monitoring_at = update.published_at
        touched.extend(c["component_id"] for c in update.component_statuses)
        rendered_updates.append(
            {
                "id": update.id,
                "status": update.incident_status,
                "body": update.message,
                "incident_id": incident.id,
                "created_at": ts(update.published_at, zone),
                "updated_at": ts(update.published_at, zone),
                "display_at": ts(update.published_at, zone),
                "affected_components": _affected(
                    update.component_statuses, before, cx.names, _component_status
                ),
                "deliver_notifications": update.notify_subscribers,
                "custom_tweet": None,
                "tweet_id": None,
            }
        )
    touched.extend(i.component_id for i in view.impacts)
    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.incident_status,
        "created_at": ts(incident.published_at, zone),
        "updated_at": ts(incident.updated_at, zone),
        "monitoring_at": ts(monitoring_at, zone),
        "resolved_at": ts(incident.resolved_at, zone),
        "impact": incident_impact(view),
        "shortlink": cx.permalink("incidents", incident.id),
        "started_at": ts(incident.published_at, zone),
        "page_id": incident.status_page_id,
        "incident_updates": list(reversed(rendered_updates)),
        "components": _components_of(touched, cx),
    }


def _components_of(ids: Iterable[str], cx: _Context) -> list[dict[str, Any]]:
    wanted = set(ids)
    return [c for cid, c in cx.components.items() if cid in wanted]


def maintenance_json(view: MaintenanceView, cx: _Context) -> dict[str, Any]:
    window, zone = view.maintenance, cx.zone
    before: dict[str, str] = {}
    rendered_updates: list[dict[str, Any]] = []
    for update in reversed(view.updates):
        rendered_updates.append(
            {
                "id": update.id,
                "status": MAINTENANCE_STATUS.get(update.maintenance_status, "scheduled"),
                "body": update.message,
                "incident_id": window.id,
                "created_at": ts(update.published_at, zone),
                "updated_at": ts(update.published_at, zone),
                "display_at": ts(update.published_at, zone),
                "affected_components": _affected(
                    update.component_statuses, before, cx.names, _component_status
                ),
                "deliver_notifications": update.notify_subscribers,
                "custom_tweet": None,
                "tweet_id": None,
            }
        )
    return {
        "id": window.id,
        "name": window.name,
        "status": MAINTENANCE_STATUS.get(window.maintenance_status, "scheduled"),
        "created_at": ts(window.published_at, zone),
        "updated_at": ts(window.updated_at, zone),
        "monitoring_at": None,
        "resolved_at": ts(window.completed_at, zone),
        "impact": "maintenance",
        "shortlink": cx.permalink("maintenance", window.id),
        "started_at": ts(window.started_at or window.start_at, zone),
        "page_id": window.status_page_id,
        "incident_updates": list(reversed(rendered_updates)),
        "components": _components_of(view.component_ids, cx),
        "scheduled_for": ts(window.start_at, zone),
        "scheduled_until": ts(window.end_at, zone),
    }


def indicator(data: Source) -> str:
    """``critical``/``major``/``minor`` from the worst current status of a visible component and
    the impact of every unresolved incident; else ``maintenance`` while a window is in progress
    or a visible component is under maintenance; else ``none``."""
    found = "none"
    shown = {n.component.id for n in _all_components(_visible(data.structure)) if n.component}
    for component_id, status in data.statuses.items():
        if component_id not in shown:
            continue
        level = IMPACT.get(status) or ("maintenance" if status == "under_maintenance" else "none")
        found = max(found, level, key=_INDICATOR_RANK.__getitem__)
    for view in data.snap.ongoing_incidents:
        found = max(found, incident_impact(view), key=_INDICATOR_RANK.__getitem__)
    if found == "none" and any(
        m.maintenance.maintenance_status == IN_PROGRESS for m in data.maintenances
    ):
        found = "maintenance"
    return found


def status_block(data: Source) -> dict[str, str]:
    level = indicator(data)
    return {"indicator": level, "description": INDICATOR_DESCRIPTION[level]}


def _incidents(cx: _Context, views: Sequence[IncidentView]) -> list[dict[str, Any]]:
    return [incident_json(v, cx) for v in views[:LIST_CAP]]


def _maintenances(cx: _Context, states: Sequence[str] | None) -> list[dict[str, Any]]:
    """All states: the latest ``LIST_CAP`` by start, latest first. Upcoming/active lists read
    best soonest first."""
    views = cx.data.maintenances
    if states is None:
        views = sorted(views, key=lambda v: (v.maintenance.start_at, v.maintenance.id))[::-1]
    else:
        views = sorted(
            (v for v in views if v.maintenance.maintenance_status in states),
            key=lambda v: (v.maintenance.start_at, v.maintenance.id),
        )
    return [maintenance_json(v, cx) for v in views[:LIST_CAP]]


def summary(snap: PageSnapshot, url: str) -> dict[str, Any]:
    """Components, unresolved incidents, upcoming and in-progress maintenance, the rollup."""
    cx = _Context.of(Source(snap, url))
    return {
        "page": _page(cx.data, cx.zone),
        "components": cx.rendered,
        "incidents": _incidents(cx, snap.ongoing_incidents),
        "scheduled_maintenances": _maintenances(cx, (SCHEDULED, IN_PROGRESS)),
        "status": status_block(cx.data),
    }


def status(snap: PageSnapshot, url: str) -> dict[str, Any]:
    data = Source(snap, url)
    return {"page": _page(data, page_zone(data.page)), "status": status_block(data)}


def components(snap: PageSnapshot, url: str) -> dict[str, Any]:
    data = Source(snap, url)
    zone = page_zone(data.page)
    return {"page": _page(data, zone), "components": components_list(data, zone)}


def incidents(snap: PageSnapshot, url: str) -> dict[str, Any]:
    cx = _Context.of(Source(snap, url))
    return {"page": _page(cx.data, cx.zone), "incidents": _incidents(cx, snap.recent_incidents)}


def unresolved_incidents(snap: PageSnapshot, url: str) -> dict[str, Any]:
    cx = _Context.of(Source(snap, url))
    return {"page": _page(cx.data, cx.zone), "incidents": _incidents(cx, snap.ongoing_incidents)}


def scheduled_maintenances(snap: PageSnapshot, url: str) -> dict[str, Any]:
    cx = _Context.of(Source(snap, url))
    return {"page": _page(cx.data, cx.zone), "scheduled_maintenances": _maintenances(cx, None)}


def upcoming_maintenances(snap: PageSnapshot, url: str) -> dict[str, Any]:
    cx = _Context.of(Source(snap, url))
    return {
        "page": _page(cx.data, cx.zone),
        "scheduled_maintenances": _maintenances(cx, (SCHEDULED,)),
    }


def active_maintenances(snap: PageSnapshot, url: str) -> dict[str, Any]:
    cx = _Context.of(Source(snap, url))
    return {
        "page": _page(cx.data, cx.zone),
        "scheduled_maintenances": _maintenances(cx, (IN_PROGRESS,)),
    }


#: Path under a page's public URL -> renderer.
DOCUMENTS: dict[str, Callable[[PageSnapshot, str], dict[str, Any]]] = {
    "api/v2/summary.json": summary,
    "api/v2/status.json": status,
    "api/v2/components.json": components,
    "api/v2/incidents.json": incidents,
    "api/v2/incidents/unresolved.json": unresolved_incidents,
    "api/v2/scheduled-maintenances.json": scheduled_maintenances,
    "api/v2/scheduled-maintenances/upcoming.json": upcoming_maintenances,
    "api/v2/scheduled-maintenances/active.json": active_maintenances,
}

#: CORS for every document: any origin may read them (widgets, extensions, aggregators).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Max-Age": "86400",
}


def render(path: str, snap: PageSnapshot, url: str) -> bytes:
    """The document at ``path`` (a key of :data:`DOCUMENTS`) as JSON bytes, nulls kept.

    ``url`` is the page's public URL as the request reached it (no trailing slash)."""
    return orjson.dumps(DOCUMENTS[path](snap, url.rstrip("/")))


def _resource(path: str) -> RenderFn:
    def render_resource(snap: PageSnapshot, context: RenderContext) -> bytes:
        return render(path, snap, context.public_url)

    return render_resource


def register_resources(registry: ResourceRegistry) -> None:
    """Serve every document of :data:`DOCUMENTS` under each page, with CORS."""
    for path in DOCUMENTS:
        register_public_resource(registry, path, JSON_TYPE, _resource(path), headers=CORS_HEADERS)
