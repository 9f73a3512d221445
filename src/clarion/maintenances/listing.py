"""Listing maintenance windows (newest first, with the API's filters) and the SQL of a window's
span; ``service`` re-exports both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.errors import ValidationFailed
from clarion.http.filters import ListFilters, all_of, resolve_component_ids, span_overlaps
from clarion.maintenances.models import Maintenance, MaintenanceComponent
from clarion.maintenances.view import COMPLETE, IN_PROGRESS, MaintenanceView, load_views
from clarion.status_pages.models import StatusPage


def span_of(now: datetime) -> tuple[ColumnElement[datetime], ColumnElement[datetime]]:
    """SQL for a window's span: real start (else planned); real end once complete, the
    planned end while scheduled, and while in progress the planned end if still ahead, else
    NULL (ongoing, overrunning)."""
    start = func.coalesce(Maintenance.started_at, Maintenance.start_at)
    end = case(
        (
            Maintenance.maintenance_status == COMPLETE,
            func.coalesce(Maintenance.completed_at, Maintenance.end_at),
        ),
        (
            and_(Maintenance.maintenance_status == IN_PROGRESS, Maintenance.end_at <= now),
            null(),
        ),
        else_=Maintenance.end_at,
    )
    return start, end


async def list_maintenances(
    session: AsyncSession,
    *,
    page_id: str,
    filters: ListFilters,
    limit: int,
    after: str | None,
    now: datetime,
) -> tuple[list[MaintenanceView], bool]:
    """Newest first (``published_at`` then id, descending); ``after`` is a window id.

    ``component_id`` / ``group_id`` / ``sub_page_id`` keep windows affecting one of those
    components (structure as it is now); ``start_at`` / ``end_at`` keep windows whose span
    (``span_of``) overlaps the range."""
    if await session.get(StatusPage, page_id) is None:
        raise ValidationFailed.at("not_found", "No status page with this id", "status_page_id")
    query = select(Maintenance).where(Maintenance.status_page_id == page_id)
    component_ids = await resolve_component_ids(session, page_id, filters)
    if component_ids is not None:
        query = query.where(
            Maintenance.id.in_(
                select(MaintenanceComponent.maintenance_id).where(
                    MaintenanceComponent.component_id.in_(sorted(component_ids))
                )
            )
        )
    span_start, span_end = span_of(now)
    overlap = all_of(span_overlaps(span_start, span_end, filters))
    if overlap is not None:
        query = query.where(overlap)
    if after is not None:
        anchor = await session.get(Maintenance, after)
        if anchor is None or anchor.status_page_id != page_id:
            raise ValidationFailed.at(
                "invalid_cursor",
                "after does not name a maintenance window of this status page",
                "after",
            )
        query = query.where(
            (Maintenance.published_at < anchor.published_at)
            | ((Maintenance.published_at == anchor.published_at) & (Maintenance.id < anchor.id))
        )
    query = query.order_by(Maintenance.published_at.desc(), Maintenance.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    return await load_views(session, rows[:limit]), len(rows) > limit
