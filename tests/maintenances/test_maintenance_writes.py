"""Side effects of every maintenance write: the page's content version, times as the SDK sends
them, idempotency keys reused with another body, reopening and moving back by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance_update as create_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_maintenance as show_maintenance,
)
from incident_io.models import (
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus,
)

from clarion.context import AppContext
from clarion.status_pages.models import StatusPage
from clarion.timeutil import format_ts
from tests.factories import PageInfo
from tests.harness import LiveServer
from tests.maintenances.helpers import Status, create_body, create_window, raw, run_automation

UpdateStatus = StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus


def version(server: LiveServer, page_id: str) -> int:
    async def body(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            page = await session.get(StatusPage, page_id)
            assert page is not None
            return page.content_version

    return server.call(body)


def post_update(
    sdk: AuthenticatedClient, window_id: str, status: UpdateStatus | None = None
) -> None:
    body = StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2(
        status_page_maintenance_id=window_id, message="Update", notify_subscribers=False
    )
    if status is not None:
        body.maintenance_status = status
    assert create_update.sync_detailed(client=sdk, body=body).status_code == 201


def test_every_write_bumps_the_page_content_version(
    server: LiveServer, token: str, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) + timedelta(days=1)
    seen = [version(server, page.id)]
    window = create_window(sdk, page.id, [a], start, start + timedelta(hours=1))
    seen.append(version(server, page.id))
    post_update(sdk, window.id)
    seen.append(version(server, page.id))
    with raw(server, token) as http:
        body = {
            "name": "Renamed",
            "start_at": format_ts(start),
            "end_at": format_ts(start + timedelta(hours=2)),
        }
        assert http.put(f"/v2/status_page_maintenances/{window.id}", json=body).status_code == 200
        seen.append(version(server, page.id))
        assert http.delete(f"/v2/status_page_maintenances/{window.id}").status_code == 204
        seen.append(version(server, page.id))
    assert seen == sorted(set(seen)), seen  # strictly increasing


def test_an_automated_move_bumps_the_content_version(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) - timedelta(seconds=1)
    window = create_window(sdk, page.id, [a], start, start + timedelta(hours=1), automate=True)
    before = version(server, page.id)
    run_automation(server)
    shown = show_maintenance.sync_detailed(window.id, client=sdk).parsed.status_page_maintenance  # type: ignore[union-attr]
    assert shown.maintenance_status == "maintenance_in_progress"
    assert version(server, page.id) > before


def test_naive_times_from_the_sdk_are_taken_as_utc(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime(2031, 5, 1, 22, 0, 0)
    window = create_window(sdk, page.id, [a], start, start + timedelta(hours=1))
    (period,) = window.component_maintenance_periods
    assert period.start_at == start.replace(tzinfo=UTC)
    assert period.start_at.tzinfo is not None


def test_an_idempotency_key_reused_with_another_body_is_refused(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) + timedelta(days=1)
    body = create_body(page.id, [a], start, start + timedelta(hours=1))
    with raw(server, token) as http:
        first = http.post("/v2/status_page_maintenances", json=body)
        again = http.post("/v2/status_page_maintenances", json=body)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        changed = http.post("/v2/status_page_maintenances", json={**body, "name": "Other"})
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["code"] == "idempotency_key_reused"


def test_a_completed_window_can_be_reopened_and_moved_back_to_scheduled_by_hand(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) - timedelta(hours=1)
    window = create_window(
        sdk, page.id, [a], start, start + timedelta(hours=3), status=Status.MAINTENANCE_IN_PROGRESS
    )
    post_update(sdk, window.id, UpdateStatus.MAINTENANCE_COMPLETE)
    post_update(sdk, window.id, UpdateStatus.MAINTENANCE_IN_PROGRESS)

    def shown() -> object:
        return show_maintenance.sync_detailed(window.id, client=sdk).parsed.status_page_maintenance  # type: ignore[union-attr]

    reopened = shown()
    assert reopened.maintenance_status == "maintenance_in_progress"  # type: ignore[attr-defined]
    (period,) = reopened.component_maintenance_periods  # type: ignore[attr-defined]
    assert period.start_at == start and "end_at" not in period.to_dict()
    assert [
        (c.component_id, c.component_status) for c in reopened.updates[0].component_statuses
    ] == [  # type: ignore[attr-defined]
        (a, "under_maintenance")
    ]
    post_update(sdk, window.id, UpdateStatus.MAINTENANCE_SCHEDULED)
    back = shown()
    assert back.maintenance_status == "maintenance_scheduled"  # type: ignore[attr-defined]
    (period,) = back.component_maintenance_periods  # type: ignore[attr-defined]
    assert period.start_at == start and period.end_at == start + timedelta(hours=3)
    assert [(c.component_id, c.component_status) for c in back.updates[0].component_statuses] == [  # type: ignore[attr-defined]
        (a, "operational")
    ]
