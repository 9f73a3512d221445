"""The list filters: component, group and sub-page (structure as it is now) and time overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance_update as create_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_list_status_page_maintenances as list_maintenances,
)
from incident_io.models import (
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus,
)

from tests.factories import PageInfo
from tests.harness import LiveServer
from tests.maintenances.helpers import Status, create_window, raw

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def ordered(page: PageInfo) -> list[str]:
    """Component ids c0..c4 in declaration order (c2, c3 in the group; c4 on the sub-page)."""
    return [
        page.components[k] for k in sorted(page.components, key=lambda k: int(k[1:].split("-")[0]))
    ]


@pytest.fixture
def windows(sdk: AuthenticatedClient, page: PageInfo) -> dict[str, str]:
    c = ordered(page)
    made = {
        # planned for next week on c0
        "future": create_window(
            sdk, page.id, [c[0]], NOW + 7 * DAY, NOW + 7 * DAY + timedelta(hours=2)
        ),
        # ran 10 days ago on a group member
        "past": create_window(
            sdk,
            page.id,
            [c[2]],
            NOW - 10 * DAY,
            NOW - 10 * DAY + timedelta(hours=2),
            status=Status.MAINTENANCE_COMPLETE,
        ),
        # running now on the sub-page's component, overrunning its planned end
        "running": create_window(
            sdk,
            page.id,
            [c[4]],
            NOW - 3 * DAY,
            NOW - 2 * DAY,
            status=Status.MAINTENANCE_IN_PROGRESS,
        ),
    }
    return {k: v.id for k, v in made.items()}


def listed(sdk: AuthenticatedClient, page: PageInfo, **filters: Any) -> set[str]:
    result = list_maintenances.sync_detailed(
        client=sdk, status_page_id=page.id, page_size=250, **filters
    ).parsed
    return {m.id for m in result.status_page_maintenances}  # type: ignore[union-attr]


def test_structure_filters_keep_windows_affecting_those_components(
    sdk: AuthenticatedClient, page: PageInfo, windows: dict[str, str]
) -> None:
    c = ordered(page)
    assert listed(sdk, page) == set(windows.values())
    assert listed(sdk, page, component_id=c[0]) == {windows["future"]}
    assert listed(sdk, page, component_id=c[1]) == set()
    assert listed(sdk, page, group_id=page.groups["Regions"]) == {windows["past"]}
    assert listed(sdk, page, sub_page_id=page.sub_pages["Sub"]) == {windows["running"]}
    assert listed(sdk, page, group_id=page.groups["Regions"], component_id=c[0]) == set()


def test_time_filters_keep_windows_whose_span_overlaps_the_range(
    sdk: AuthenticatedClient, page: PageInfo, windows: dict[str, str]
) -> None:
    # Only the window running now (past its planned end) and the future one touch "from now on".
    assert listed(sdk, page, start_at=NOW) == {windows["running"], windows["future"]}
    assert listed(sdk, page, end_at=NOW - 5 * DAY) == {windows["past"]}
    # A range inside the past window's span; the edges count (closed interval).
    assert listed(
        sdk, page, start_at=NOW - 10 * DAY + timedelta(hours=2), end_at=NOW - 9 * DAY
    ) == {windows["past"]}
    assert listed(sdk, page, start_at=NOW - 9 * DAY, end_at=NOW - 4 * DAY) == set()
    # Naive datetimes (as the SDK sends them) are UTC. The overrunning window has no known
    # end yet, so it is still "ongoing" at any later time.
    naive = (NOW + 7 * DAY + timedelta(hours=1)).replace(tzinfo=None)
    assert listed(sdk, page, start_at=naive, end_at=naive) == {
        windows["future"],
        windows["running"],
    }
    before = (NOW + 7 * DAY - timedelta(hours=1)).replace(tzinfo=None)
    assert listed(sdk, page, start_at=before, end_at=before) == {windows["running"]}


def test_a_completed_window_is_matched_by_its_real_end_not_its_planned_one(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    c = ordered(page)
    window = create_window(
        sdk,
        page.id,
        [c[1]],
        NOW - timedelta(hours=1),
        NOW + 5 * DAY,
        status=Status.MAINTENANCE_IN_PROGRESS,
    )
    assert window.id in listed(sdk, page, start_at=NOW + 2 * DAY)
    create_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2(
            status_page_maintenance_id=window.id,
            message="Finished early.",
            notify_subscribers=False,
            maintenance_status=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus.MAINTENANCE_COMPLETE,
        ),
    )
    assert window.id not in listed(sdk, page, start_at=NOW + 2 * DAY)
    assert window.id in listed(sdk, page, start_at=NOW - timedelta(minutes=30), end_at=NOW)


def test_unknown_groups_and_sub_pages_and_reversed_ranges_are_refused(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    with raw(server, token) as http:
        for params, field in [
            ({"group_id": "01NOSUCHGROUP"}, "group_id"),
            ({"sub_page_id": page.groups["Regions"]}, "sub_page_id"),
            ({"start_at": "2026-01-02T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, "end_at"),
            ({"start_at": "not a time"}, "start_at"),
        ]:
            response = http.get(
                "/v2/status_page_maintenances", params={"status_page_id": page.id, **params}
            )
            assert response.status_code == 422, params
            assert response.json()["errors"][0]["source"]["field"] == field
