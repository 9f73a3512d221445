"""Maintenance windows through incident.io's SDK: list, create, show, reschedule, delete and
updates, against a live Clarion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance as create_maintenance,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance_update as create_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_delete_status_page_maintenance as delete_maintenance,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_list_status_page_maintenances as list_maintenances,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_maintenance as show_maintenance,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_maintenance as update_maintenance,
)
from incident_io.models import (
    ErrorResponse,
    StatusPageMaintenanceAffectedComponentV2,
    StatusPageMaintenanceAffectedComponentV2ComponentStatus,
    StatusPagesCreateStatusPageMaintenancePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus,
    StatusPagesUpdateStatusPageMaintenancePayloadV2,
)
from sqlalchemy import select

from clarion.components.models import ComponentStatusChange
from clarion.context import AppContext
from tests.factories import PageInfo, make_key
from tests.harness import LiveServer
from tests.maintenances.helpers import Status, create_window, raw

UpdateStatus = StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus
ComponentStatus = StatusPageMaintenanceAffectedComponentV2ComponentStatus


def ledger_of(server: LiveServer, maintenance_id: str) -> list[tuple[str, str]]:
    async def body(ctx: AppContext) -> list[tuple[str, str]]:
        async with ctx.db.read() as session:
            rows = await session.scalars(
                select(ComponentStatusChange)
                .where(ComponentStatusChange.maintenance_id == maintenance_id)
                .order_by(ComponentStatusChange.occurred_at, ComponentStatusChange.seq)
            )
            return [(r.component_id, r.status) for r in rows]

    return server.call(body)


def test_a_scheduled_window_comes_back_with_planned_periods_and_its_first_update(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a, b = list(page.components.values())[:2]
    start = datetime.now(UTC) + timedelta(days=2)
    end = start + timedelta(hours=2)
    window = create_window(sdk, page.id, [a, b], start, end)
    assert window.maintenance_status == "maintenance_scheduled"
    assert window.automate_maintenance_status is False
    assert window.published_at.tzinfo is not None
    assert [u.message for u in window.updates] == ["We are upgrading the primary database."]
    assert window.updates[0].maintenance_status == "maintenance_scheduled"
    assert window.updates[0].component_statuses == []
    periods = window.component_maintenance_periods
    assert [p.component_id for p in periods] == [a, b]
    assert all(p.start_at == start and p.end_at == end for p in periods)

    shown = show_maintenance.sync_detailed(window.id, client=sdk).parsed
    assert shown.status_page_maintenance.to_dict() == window.to_dict()  # type: ignore[union-attr]


def test_an_in_progress_window_puts_components_under_maintenance_with_an_open_period(
    sdk: AuthenticatedClient, page: PageInfo, server: LiveServer
) -> None:
    a, b = list(page.components.values())[:2]
    start = datetime.now(UTC) - timedelta(minutes=5)
    window = create_window(
        sdk,
        page.id,
        [a, b],
        start,
        start + timedelta(hours=1),
        status=Status.MAINTENANCE_IN_PROGRESS,
    )
    assert window.maintenance_status == "maintenance_in_progress"
    assert [(c.component_id, c.component_status) for c in window.updates[0].component_statuses] == [
        (a, "under_maintenance"),
        (b, "under_maintenance"),
    ]
    for period in window.component_maintenance_periods:
        assert period.start_at == start
        assert "end_at" not in period.to_dict()  # ongoing: the key is left out, never null
    assert ledger_of(server, window.id) == [(a, "under_maintenance"), (b, "under_maintenance")]


def test_updates_release_components_and_completing_ends_the_window_and_turns_automation_off(
    sdk: AuthenticatedClient, page: PageInfo, server: LiveServer
) -> None:
    a, b = list(page.components.values())[:2]
    start = datetime.now(UTC) - timedelta(minutes=5)
    window = create_window(
        sdk,
        page.id,
        [a, b],
        start,
        start + timedelta(hours=1),
        status=Status.MAINTENANCE_IN_PROGRESS,
        automate=True,
    )
    assert window.automate_maintenance_status is True

    released = create_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2(
            status_page_maintenance_id=window.id,
            message="The API is back; the database work continues.",
            notify_subscribers=False,
            component_statuses=[
                StatusPageMaintenanceAffectedComponentV2(
                    component_id=a, component_status=ComponentStatus.OPERATIONAL
                )
            ],
        ),
    )
    assert released.status_code == 201
    update = released.parsed.status_page_maintenance_update  # type: ignore[union-attr]
    assert update.maintenance_status == "maintenance_in_progress"
    assert [(c.component_id, c.component_status) for c in update.component_statuses] == [
        (a, "operational")
    ]
    still = show_maintenance.sync_detailed(window.id, client=sdk).parsed.status_page_maintenance  # type: ignore[union-attr]
    assert still.automate_maintenance_status is True  # no status in that update

    done = create_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2(
            status_page_maintenance_id=window.id,
            message="All done.",
            notify_subscribers=False,
            maintenance_status=UpdateStatus.MAINTENANCE_COMPLETE,
        ),
    )
    assert done.status_code == 201
    assert done.parsed.status_page_maintenance_update.component_statuses[0].component_status == (  # type: ignore[union-attr]
        "operational"
    )
    shown = show_maintenance.sync_detailed(window.id, client=sdk).parsed.status_page_maintenance  # type: ignore[union-attr]
    assert shown.maintenance_status == "maintenance_complete"
    assert shown.automate_maintenance_status is False
    assert [u.message for u in shown.updates] == [
        "All done.",
        "The API is back; the database work continues.",
        "We are upgrading the primary database.",
    ]
    for period in shown.component_maintenance_periods:
        assert period.start_at == start
        assert period.end_at is not None and period.end_at > start
    assert ledger_of(server, window.id) == [
        (a, "under_maintenance"),
        (b, "under_maintenance"),
        (a, "operational"),
        (b, "operational"),
    ]


def test_rescheduling_changes_name_and_times_without_publishing_an_update(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) + timedelta(days=1)
    window = create_window(sdk, page.id, [a], start, start + timedelta(hours=1))
    new_start = start + timedelta(days=1)
    response = update_maintenance.sync_detailed(
        window.id,
        client=sdk,
        body=StatusPagesUpdateStatusPageMaintenancePayloadV2(
            name="Database upgrade (moved)",
            start_at=new_start,
            end_at=new_start + timedelta(hours=3),
        ),
    )
    assert response.status_code == 200
    moved = response.parsed.status_page_maintenance  # type: ignore[union-attr]
    assert moved.name == "Database upgrade (moved)"
    assert len(moved.updates) == 1
    (period,) = moved.component_maintenance_periods
    assert period.start_at == new_start and period.end_at == new_start + timedelta(hours=3)


def test_deleting_a_window_is_permanent_and_removes_it_from_lists(
    sdk: AuthenticatedClient, page: PageInfo, server: LiveServer
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) - timedelta(minutes=1)
    window = create_window(
        sdk, page.id, [a], start, start + timedelta(hours=1), status=Status.MAINTENANCE_IN_PROGRESS
    )
    keep = create_window(sdk, page.id, [a], start + timedelta(days=3), start + timedelta(days=4))
    response = delete_maintenance.sync_detailed(window.id, client=sdk)
    assert response.status_code == 204
    assert response.content == b""
    gone = show_maintenance.sync_detailed(window.id, client=sdk)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, ErrorResponse)
    listed = list_maintenances.sync_detailed(client=sdk, status_page_id=page.id).parsed
    assert [m.id for m in listed.status_page_maintenances] == [keep.id]  # type: ignore[union-attr]
    assert ledger_of(server, window.id) == []
    assert delete_maintenance.sync_detailed(window.id, client=sdk).status_code == 404


def test_the_list_pages_newest_first_and_leaves_after_out_on_the_last_page(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) + timedelta(days=5)
    made = [
        create_window(sdk, page.id, [a], start, start + timedelta(hours=1), name=f"W{i}").id
        for i in range(5)
    ]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        kwargs = {"after": after} if after else {}
        result = list_maintenances.sync_detailed(
            client=sdk, status_page_id=page.id, page_size=2, **kwargs
        ).parsed
        pages += 1
        seen += [m.id for m in result.status_page_maintenances]  # type: ignore[union-attr]
        meta = result.pagination_meta.to_dict()  # type: ignore[union-attr]
        assert meta["page_size"] == 2
        if "after" not in meta:
            break
        after = meta["after"]
    assert seen == list(reversed(made))
    assert pages == 3


def test_creating_twice_with_one_idempotency_key_creates_one_window(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) + timedelta(days=1)
    body = StatusPagesCreateStatusPageMaintenancePayloadV2(
        status_page_id=page.id,
        name="Once",
        maintenance_status=Status.MAINTENANCE_SCHEDULED,
        idempotency_key=str(uuid.uuid4()),
        affected_component_ids=[a],
        start_at=start,
        end_at=start + timedelta(hours=1),
        message="Only once",
        notify_subscribers=False,
    )
    first = create_maintenance.sync_detailed(client=sdk, body=body)
    second = create_maintenance.sync_detailed(client=sdk, body=body)
    assert first.status_code == second.status_code == 201
    assert first.parsed.status_page_maintenance.id == second.parsed.status_page_maintenance.id  # type: ignore[union-attr]
    listed = list_maintenances.sync_detailed(client=sdk, status_page_id=page.id).parsed
    assert len(listed.status_page_maintenances) == 1  # type: ignore[union-attr]


def test_a_viewer_key_can_read_but_not_write(
    sdk: AuthenticatedClient, page: PageInfo, server: LiveServer
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) + timedelta(days=1)
    window = create_window(sdk, page.id, [a], start, start + timedelta(hours=1))
    viewer = make_key(server, "viewer")
    with raw(server, viewer) as http:
        assert http.get(f"/v2/status_page_maintenances/{window.id}").status_code == 200
        assert (
            http.get("/v2/status_page_maintenances", params={"status_page_id": page.id}).status_code
            == 200
        )
        denied = http.delete(f"/v2/status_page_maintenances/{window.id}")
        assert denied.status_code == 403
        assert denied.json()["type"] == "resource_forbidden"
        denied = http.post(
            "/v2/status_page_maintenance_updates",
            json={
                "status_page_maintenance_id": window.id,
                "message": "x",
                "notify_subscribers": False,
            },
        )
        assert denied.status_code == 403
