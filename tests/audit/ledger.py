"""The suite-wide audit check: at the end of a test session, everything the shared server's
database holds was written with an audit entry naming it.

Every test writes through the API, the console, the CLI or the services they call (the
factories too), so when the session's server stops, each incident, maintenance window,
component, status page, API key and console user in its database must be named by at least
one entry, and each incident or window by at least as many entries as it has updates (each
create, update and automated move records one; a backfilled incident records one for all of
its updates). A write path that forgets its entry shows here whichever test used it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.api_keys.models import ApiKey
from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.audit.models import AuditEntry
from clarion.components.models import Component
from clarion.console.models import User
from clarion.context import AppContext
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.maintenances.models import Maintenance, MaintenanceUpdate
from clarion.status_pages.models import StatusPage
from tests.harness import LiveServer

#: Who writes what tests insert in bulk.
SEEDER = Actor.cli("tests")
#: Every kind of object the check covers.
OBJECTS: tuple[Any, ...] = (Incident, Maintenance, Component, StatusPage, ApiKey, User)


def record_seeded(
    session: AsyncSession, page_id: str, rows: dict[Any, list[dict[str, Any]]]
) -> None:
    """The audit entries for incidents and windows that a test inserts in bulk (history to
    render), added to ``session``: one per update, as the writes that made them would have
    recorded (``audit.record``)."""
    for model, kind in ((IncidentUpdate, "incident"), (MaintenanceUpdate, "maintenance")):
        for update in rows.get(model, []):
            audit.record(
                session,
                SEEDER,
                f"{kind}.seed",
                object_type=kind,
                object_id=update[f"{kind}_id"],
                status_page_id=page_id,
                at=update["published_at"],
                summary="seeded history",
            )


def report(missing: dict[str, list[str]]) -> str:
    """``missing`` in a line: how many of each, and the first few ids."""
    return "; ".join(
        f"{len(ids)} {table} (e.g. {', '.join(ids[:3])})" for table, ids in missing.items()
    )


def unaudited(server: LiveServer) -> dict[str, list[str]]:
    """The objects (by table) with fewer audit entries than they must have; empty when
    every write was recorded."""

    async def body(ctx: AppContext) -> dict[str, list[str]]:
        named = (
            select(AuditEntry.object_id, func.count().label("entries"))
            .group_by(AuditEntry.object_id)
            .subquery()
        )
        found: dict[str, list[str]] = {}
        async with ctx.db.read() as session:
            for model in OBJECTS:
                entries = func.coalesce(named.c.entries, 0)
                needed: Any = 1
                if model is Incident:
                    needed = case(
                        (Incident.retrospective.is_(True), 1),
                        (Incident.update_count > 1, Incident.update_count),
                        else_=1,
                    )
                elif model is Maintenance:
                    needed = case((Maintenance.update_count > 1, Maintenance.update_count), else_=1)
                query = (
                    select(model.id)
                    .outerjoin(named, named.c.object_id == model.id)
                    .where(entries < needed)
                )
                missing = list((await session.scalars(query)).all())
                if missing:
                    found[model.__tablename__] = missing
        return found

    return server.call(body)
