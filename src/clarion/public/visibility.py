"""What the public may see of incidents and maintenance windows: nothing of a hidden component.

A component is hidden on a page when no visible place of the page's structure shows it (it is
marked ``hidden``, or sits in a hidden group or sub-page). Incidents and windows that name one
are still public, but without it: their impacts, their updates' component statuses and their
affected components leave it out, so neither its name nor its id reaches the page, the JSON,
the feeds, the calendar, the badge or a notification. Every public reader of incidents and
windows goes through ``public_incidents`` / ``public_maintenances`` (or the loaders here).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.incidents.models import Incident
from clarion.incidents.service import IncidentView, load_views
from clarion.maintenances.models import Maintenance
from clarion.maintenances.view import MaintenanceView
from clarion.maintenances.view import load_views as load_maintenance_views
from clarion.status_pages.service import StructureNode, iter_components

R = TypeVar("R")


def hidden_component_ids(structure: list[StructureNode]) -> frozenset[str]:
    """The components of ``structure`` that no visible place of it shows."""
    on_page = {n.item.component_id for n in iter_components(structure) if n.item.component_id}
    return frozenset(on_page - set(visible_component_ids(structure)))


def visible_component_ids(nodes: list[StructureNode]) -> list[str]:
    """The components shown by visible places of ``nodes``, in display order."""
    found: list[str] = []
    for node in nodes:
        if node.item.hidden:
            continue
        if node.item.kind == "component":
            if node.item.component_id is not None:
                found.append(node.item.component_id)
        else:
            found.extend(visible_component_ids(node.children))
    return found


def without_hidden(statuses: Sequence[Any] | None, hidden: Collection[str]) -> list[Any]:
    """An update's ``component_statuses`` (``[{"component_id", …}]``) without ``hidden``."""
    return [c for c in statuses or [] if c.get("component_id") not in hidden]


def _mentions(statuses: Sequence[Any] | None, hidden: Collection[str]) -> bool:
    return any(c.get("component_id") in hidden for c in statuses or [])


def _copy(row: R, **changes: Any) -> R:
    """A transient copy of the ORM object ``row`` (its columns only, never added to a session),
    with ``changes``: the stored row is left as it is."""
    values = {attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs}
    values.update(changes)
    return type(row)(**values)


def _public_updates(updates: list[R], hidden: Collection[str]) -> list[R]:
    return [
        _copy(u, component_statuses=without_hidden(u.component_statuses, hidden))  # type: ignore[attr-defined]
        if _mentions(u.component_statuses, hidden)  # type: ignore[attr-defined]
        else u
        for u in updates
    ]


def public_incidents(views: Sequence[IncidentView], hidden: Collection[str]) -> list[IncidentView]:
    """``views`` as the public sees them (see the module)."""
    if not hidden:
        return list(views)
    return [
        replace(
            view,
            impacts=[i for i in view.impacts if i.component_id not in hidden],
            updates=_public_updates(view.updates, hidden),
        )
        for view in views
    ]


def public_maintenances(
    views: Sequence[MaintenanceView], hidden: Collection[str]
) -> list[MaintenanceView]:
    """``views`` as the public sees them (see the module)."""
    if not hidden:
        return list(views)
    return [
        replace(
            view,
            component_ids=[c for c in view.component_ids if c not in hidden],
            updates=_public_updates(view.updates, hidden),
        )
        for view in views
    ]


async def load_public_incidents(
    session: AsyncSession, rows: list[Incident], hidden: Collection[str]
) -> list[IncidentView]:
    return public_incidents(await load_views(session, rows), hidden)


async def load_public_maintenances(
    session: AsyncSession, rows: list[Maintenance], hidden: Collection[str]
) -> list[MaintenanceView]:
    return public_maintenances(await load_maintenance_views(session, rows), hidden)
