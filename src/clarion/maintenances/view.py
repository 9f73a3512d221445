"""Read model of a maintenance window: the row, its updates and its components, in one batch.

Used by the API (``schemas.maintenance_v2``) and by the public page, feeds and JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.db.in_lists import padded
from clarion.maintenances.models import Maintenance, MaintenanceComponent, MaintenanceUpdate

SCHEDULED = "maintenance_scheduled"
IN_PROGRESS = "maintenance_in_progress"
COMPLETE = "maintenance_complete"
STATUSES = (SCHEDULED, IN_PROGRESS, COMPLETE)


@dataclass(frozen=True)
class MaintenancePeriod:
    """When maintenance applies to one component; ``end_at`` None while it is ongoing."""

    component_id: str
    start_at: datetime
    end_at: datetime | None


@dataclass
class MaintenanceView:
    maintenance: Maintenance
    updates: list[MaintenanceUpdate]  # newest first
    component_ids: list[str]  # the affected components, in the order they were given

    @property
    def real_start_at(self) -> datetime:
        """When the window really started, or its planned start while it has not."""
        return self.maintenance.started_at or self.maintenance.start_at

    @property
    def real_end_at(self) -> datetime | None:
        """When it really ended; the planned end while scheduled; None while in progress."""
        m = self.maintenance
        if m.maintenance_status == COMPLETE:
            return m.completed_at or m.end_at
        if m.maintenance_status == IN_PROGRESS:
            return None
        return m.end_at

    def periods(self) -> list[MaintenancePeriod]:
        """``component_maintenance_periods``: the planned times while scheduled, the real start
        (and no end) while in progress, the real start and end once complete. Every affected
        component shares the window's period (a reschedule applies to all of them)."""
        start, end = self.real_start_at, self.real_end_at
        return [MaintenancePeriod(c, start, end) for c in self.component_ids]


async def load_views(session: AsyncSession, rows: Sequence[Maintenance]) -> list[MaintenanceView]:
    """Attach updates (newest first) and affected components, in two queries for the batch."""
    ids = [m.id for m in rows]
    updates: dict[str, list[MaintenanceUpdate]] = {i: [] for i in ids}
    components: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        found = await session.scalars(
            select(MaintenanceUpdate)
            .where(MaintenanceUpdate.maintenance_id.in_(padded(ids)))
            .order_by(MaintenanceUpdate.published_at.desc(), MaintenanceUpdate.id.desc())
        )
        for update in found:
            updates[update.maintenance_id].append(update)
        links = await session.scalars(
            select(MaintenanceComponent)
            .where(MaintenanceComponent.maintenance_id.in_(padded(ids)))
            .order_by(MaintenanceComponent.maintenance_id, MaintenanceComponent.position)
        )
        for link in links:
            components[link.maintenance_id].append(link.component_id)
    return [
        MaintenanceView(maintenance=m, updates=updates[m.id], component_ids=components[m.id])
        for m in rows
    ]
