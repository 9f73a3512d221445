"""The component status ledger: writing changes and deriving statuses and impacts from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.components.models import ComponentStatusChange
from clarion.db.in_lists import padded
from clarion.ids import new_id

OPERATIONAL = "operational"
#: From best to worst; a component shows the worst status any of its causes gives it.
SEVERITY = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "full_outage": 4,
}
IMPACT_STATUSES = ("degraded_performance", "partial_outage", "full_outage")
DOWN_STATUSES = ("partial_outage", "full_outage")


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda s: SEVERITY.get(s, 0), default=OPERATIONAL)


@dataclass(frozen=True)
class Impact:
    component_id: str
    status: str
    start_at: datetime
    end_at: datetime | None


class ChangePoint(NamedTuple):
    """The part of a ledger row that impacts are derived from (a cheap read-only tuple)."""

    component_id: str
    status: str
    occurred_at: datetime


#: A ledger row, or just the part of it that statuses and impacts are derived from.
Change = ComponentStatusChange | ChangePoint


def latest_by_component(changes: Sequence[Change]) -> dict[str, str]:
    """Each component's latest status among ``changes`` (ordered oldest first)."""
    latest: dict[str, str] = {}
    for change in changes:
        latest[change.component_id] = change.status
    return latest


async def _changes_by_cause(
    session: AsyncSession, cause: Any, cause_ids: Sequence[str]
) -> dict[str, list[ComponentStatusChange]]:
    """Ledger rows whose ``cause`` column (incident or maintenance id) is in ``cause_ids``,
    grouped by that id, oldest first."""
    found: dict[str, list[ComponentStatusChange]] = {i: [] for i in cause_ids}
    if not cause_ids:
        return found
    rows = await session.scalars(
        select(ComponentStatusChange)
        .where(cause.in_(padded(cause_ids)))
        .order_by(ComponentStatusChange.occurred_at, ComponentStatusChange.seq)
    )
    for row in rows:
        found[getattr(row, cause.key)].append(row)
    return found


async def changes_for_incidents(
    session: AsyncSession, incident_ids: Sequence[str]
) -> dict[str, list[ComponentStatusChange]]:
    """Ledger rows caused by each incident, oldest first."""
    return await _changes_by_cause(session, ComponentStatusChange.incident_id, incident_ids)


async def changes_for_maintenances(
    session: AsyncSession, maintenance_ids: Sequence[str]
) -> dict[str, list[ComponentStatusChange]]:
    """Ledger rows caused by each maintenance window, oldest first."""
    return await _changes_by_cause(session, ComponentStatusChange.maintenance_id, maintenance_ids)


async def change_points_for_incidents(
    session: AsyncSession, incident_ids: Sequence[str]
) -> dict[str, list[ChangePoint]]:
    """Like ``changes_for_incidents``, as plain tuples: a hot read path (the incident list)
    that only derives impacts, so it skips building ORM objects."""
    found: dict[str, list[ChangePoint]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return found
    change = ComponentStatusChange
    rows = await session.execute(
        select(change.incident_id, change.component_id, change.status, change.occurred_at)
        .where(change.incident_id.in_(padded(incident_ids)))
        .order_by(change.occurred_at, change.seq)
    )
    for incident_id, component_id, status, occurred_at in rows:
        found[incident_id or ""].append(ChangePoint(component_id, status, occurred_at))
    return found


def impacts_from_changes(changes: Sequence[Change]) -> list[Impact]:
    """Walk one cause's changes in time order.

    1. A change to a different impact status closes the component's open impact at that moment
       and opens a new one.
    2. A change to ``operational`` (or ``under_maintenance``) closes the open impact.
    3. Impacts still open at the end have no ``end_at`` (ongoing).
    """
    open_: dict[str, tuple[str, datetime]] = {}
    done: list[Impact] = []
    order: dict[str, int] = {}
    for change in changes:
        order.setdefault(change.component_id, len(order))
        current = open_.get(change.component_id)
        if current is not None and current[0] == change.status:
            continue
        if current is not None:
            done.append(Impact(change.component_id, current[0], current[1], change.occurred_at))
            del open_[change.component_id]
        if change.status in IMPACT_STATUSES:
            open_[change.component_id] = (change.status, change.occurred_at)
    for component_id, (status, start) in open_.items():
        done.append(Impact(component_id, status, start, None))
    done.sort(key=lambda i: (i.start_at, order[i.component_id]))
    return done


class LedgerWriter:
    """Appends changes for one cause, skipping no-ops, keeping a stable order within an instant."""

    def __init__(
        self,
        session: AsyncSession,
        status_page_id: str,
        current: dict[str, str],
        *,
        incident_id: str | None = None,
        maintenance_id: str | None = None,
    ) -> None:
        self.session = session
        self.status_page_id = status_page_id
        self.current = dict(current)
        self.incident_id = incident_id
        self.maintenance_id = maintenance_id
        self._seq = 0
        self.changed: list[str] = []

    def set(self, component_id: str, status: str, at: datetime) -> bool:
        """Record ``status`` for the component unless it already has it; True if recorded."""
        if self.current.get(component_id, OPERATIONAL) == status:
            return False
        self._seq += 1
        self.session.add(
            ComponentStatusChange(
                id=new_id(),
                status_page_id=self.status_page_id,
                component_id=component_id,
                incident_id=self.incident_id,
                maintenance_id=self.maintenance_id,
                status=status,
                occurred_at=at,
                seq=self._seq,
            )
        )
        self.current[component_id] = status
        self.changed.append(component_id)
        return True

    def reset_all(self, at: datetime) -> None:
        """Every component of this cause back to ``operational``."""
        for component_id, status in list(self.current.items()):
            if status != OPERATIONAL:
                self.set(component_id, OPERATIONAL, at)
