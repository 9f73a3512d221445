"""The list filters shared by incidents and maintenance windows.

``GET /v2/status_page_incidents`` and ``GET /v2/status_page_maintenances`` accept the same
optional query parameters: ``component_id``, ``group_id``, ``sub_page_id``, ``start_at`` and
``end_at``. ``http/filter_query.py`` parses them (``list_filters``, a FastAPI dependency); this
module, which the services and the static export import without FastAPI, resolves the
structure filters to a set of component ids against the page's structure *as it is now*
(``resolve_component_ids``), and builds the time-overlap condition (``span_overlaps``).

Contracts:

- Filters combine with AND. ``group_id`` and ``sub_page_id`` must name a group / sub-page of the
  listed page (422 ``not_found`` otherwise); ``component_id`` is any id, so history about a
  component that was since archived or taken off the page can still be found.
- ``start_at``/``end_at`` are RFC 3339 (no offset means UTC); 422 ``invalid_value`` when
  unreadable, outside years 1..9999 in UTC, or when ``end_at`` is before ``start_at``. An item
  matches when its active span ``[span_start, span_end]`` (``span_end`` NULL = still ongoing)
  touches the range: it started at or before ``end_at`` and had not ended before ``start_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.errors import ValidationFailed
from clarion.http.validation import timestamp_problem
from clarion.timeutil import parse_ts


@dataclass(frozen=True)
class ListFilters:
    component_id: str | None = None
    group_id: str | None = None
    sub_page_id: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None

    @property
    def by_structure(self) -> bool:
        """True when a component, group or sub-page filter is set."""
        return bool(self.component_id or self.group_id or self.sub_page_id)

    @property
    def by_time(self) -> bool:
        return self.start_at is not None or self.end_at is not None


def parse_query_timestamp(value: str | None, field: str) -> datetime | None:
    """An optional RFC 3339 query parameter; 422 ``invalid_value`` at ``field`` if unreadable or
    outside years 1..9999 in UTC."""
    if value is None or value == "":
        return None
    try:
        return parse_ts(value)
    except ValueError as error:
        raise ValidationFailed.at(
            "invalid_value", f"{field} {timestamp_problem(error)}", field
        ) from None


async def resolve_component_ids(
    session: AsyncSession, page_id: str, filters: ListFilters
) -> set[str] | None:
    """The components an item must have affected to match, or None when unfiltered.

    1. Load the page's structure rows (a handful; ids and parents only).
    2. ``group_id``: the components placed in that group.
    3. ``sub_page_id``: the components placed in that sub-page, directly or in its groups.
    4. ``component_id``: that one component.
    5. Intersect whatever was given (an empty set matches nothing).
    """
    if not filters.by_structure:
        return None
    from clarion.status_pages.models import StructureItem

    sets: list[set[str]] = []
    if filters.group_id or filters.sub_page_id:
        rows = (
            await session.execute(
                select(
                    StructureItem.id,
                    StructureItem.parent_id,
                    StructureItem.kind,
                    StructureItem.component_id,
                ).where(StructureItem.status_page_id == page_id)
            )
        ).all()
        kinds = {row.id: row.kind for row in rows}
        children: dict[str, list[Any]] = {}
        for row in rows:
            if row.parent_id is not None:
                children.setdefault(row.parent_id, []).append(row)

        def components_under(item_id: str) -> set[str]:
            found: set[str] = set()
            for child in children.get(item_id, []):
                if child.kind == "component" and child.component_id is not None:
                    found.add(child.component_id)
                elif child.kind == "group":
                    found |= components_under(child.id)
            return found

        if filters.group_id:
            if kinds.get(filters.group_id) != "group":
                raise ValidationFailed.at(
                    "not_found", "No group with this id on the status page", "group_id"
                )
            sets.append(components_under(filters.group_id))
        if filters.sub_page_id:
            if kinds.get(filters.sub_page_id) != "sub_page":
                raise ValidationFailed.at(
                    "not_found", "No sub-page with this id on the status page", "sub_page_id"
                )
            sets.append(components_under(filters.sub_page_id))
    if filters.component_id:
        sets.append({filters.component_id})
    result = sets[0]
    for other in sets[1:]:
        result &= other
    return result


def span_overlaps(
    span_start: Any, span_end: Any, filters: ListFilters
) -> list[ColumnElement[bool]]:
    """SQL conditions: the span ``[span_start, span_end or ongoing]`` touches the range."""
    conditions: list[ColumnElement[bool]] = []
    if filters.end_at is not None:
        conditions.append(span_start <= filters.end_at)
    if filters.start_at is not None:
        conditions.append(or_(span_end.is_(None), span_end >= filters.start_at))
    return conditions


def all_of(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool] | None:
    """``AND`` of the conditions, or None when there are none."""
    if not conditions:
        return None
    return and_(*conditions)
