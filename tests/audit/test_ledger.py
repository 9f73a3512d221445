"""The suite-wide audit check (``tests/audit/ledger.py``) finds what was written without an
entry: a component inserted behind the services' back, and an incident update whose entry is
missing."""

from __future__ import annotations

from incident_io import AuthenticatedClient
from sqlalchemy import delete, insert, update

from clarion.components.models import Component
from clarion.context import AppContext
from clarion.ids import new_id
from clarion.incidents.models import Incident
from tests.audit.ledger import unaudited
from tests.factories import PageInfo
from tests.harness import LiveServer
from tests.subscribers.helpers import create_incident


def test_a_row_written_behind_the_services_back_is_found(server: LiveServer) -> None:
    component_id = new_id()

    async def sneak_in(ctx: AppContext) -> None:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            await session.execute(
                insert(Component).values(
                    id=component_id, name="Unaudited", created_at=now, updated_at=now
                )
            )

    async def take_out(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await session.execute(delete(Component).where(Component.id == component_id))

    server.call(sneak_in)
    try:
        assert component_id in unaudited(server).get("components", [])
    finally:
        server.call(take_out)
    assert component_id not in unaudited(server).get("components", [])


def test_an_update_without_its_entry_is_found(
    server: LiveServer, page: PageInfo, sdk: AuthenticatedClient
) -> None:
    incident_id = create_incident(sdk, page.id, "Counted", notify=False).id
    assert incident_id not in unaudited(server).get("incidents", [])

    async def count_one_more_update(ctx: AppContext, by: int) -> None:
        async with ctx.db.write() as session:
            await session.execute(
                update(Incident)
                .where(Incident.id == incident_id)
                .values(update_count=Incident.update_count + by)
            )

    server.call(lambda ctx: count_one_more_update(ctx, 1))
    try:
        assert incident_id in unaudited(server).get("incidents", [])
    finally:
        server.call(lambda ctx: count_one_more_update(ctx, -1))
