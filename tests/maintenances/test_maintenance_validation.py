"""Every maintenance rule the SDK cannot enforce answers 422 with a field and a pointer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from incident_io import AuthenticatedClient

from clarion.context import AppContext
from clarion.maintenances.models import Maintenance
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer
from tests.maintenances.helpers import Status, create_body, create_window, raw

START = datetime.now(UTC) + timedelta(days=3)
END = START + timedelta(hours=2)


def sources(response: Any) -> list[tuple[str, str, str]]:
    body = response.json()
    assert response.status_code == 422, body
    assert body["type"] == "validation_error"
    assert body["status"] == 422 and body["request_id"]
    return [(e["code"], e["source"]["field"], e["source"]["pointer"]) for e in body["errors"]]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"end_at": "START"}, ("invalid_value", "end_at", "/end_at")),
        ({"end_at": "BEFORE"}, ("invalid_value", "end_at", "/end_at")),
        ({"status_page_id": "01NOSUCHPAGE"}, ("not_found", "status_page_id", "/status_page_id")),
        (
            {"affected_component_ids": []},
            ("too_short", "affected_component_ids", "/affected_component_ids"),
        ),
        (
            {"affected_component_ids": ["01NOSUCHCOMPONENT"]},
            ("not_found", "affected_component_ids[0]", "/affected_component_ids/0"),
        ),
        (
            {"affected_component_ids": ["x" * 65]},
            ("too_long", "affected_component_ids[0]", "/affected_component_ids/0"),
        ),
        (
            {"maintenance_status": "maintenance_paused"},
            ("invalid_value", "maintenance_status", "/maintenance_status"),
        ),
        ({"name": ""}, ("is_required", "name", "/name")),
        ({"name": "x" * 201}, ("too_long", "name", "/name")),
        ({"message": "x" * 4097}, ("too_long", "message", "/message")),
        ({"start_at": "tomorrow"}, ("invalid_value", "start_at", "/start_at")),
        ({"idempotency_key": None}, ("is_required", "idempotency_key", "/idempotency_key")),
        (
            {"notify_subscribers": None},
            ("is_required", "notify_subscribers", "/notify_subscribers"),
        ),
    ],
)
def test_a_create_breaking_a_rule_is_refused_with_a_pointer_to_the_field(
    server: LiveServer,
    token: str,
    page: PageInfo,
    change: dict[str, Any],
    expected: tuple[str, str, str],
) -> None:
    body = create_body(page.id, [next(iter(page.components.values()))], START, END)
    for key, value in change.items():
        if value == "START":
            value = body["start_at"]
        elif value == "BEFORE":
            value = (START - timedelta(minutes=1)).isoformat()
        if value is None:
            del body[key]
        else:
            body[key] = value
    with raw(server, token) as http:
        assert expected in sources(http.post("/v2/status_page_maintenances", json=body))


def test_components_that_are_not_on_the_page_or_repeated_are_each_pointed_at(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    other = make_page(server, components=1)
    mine = next(iter(page.components.values()))
    foreign = next(iter(other.components.values()))
    body = create_body(page.id, [mine, foreign, mine], START, END)
    with raw(server, token) as http:
        found = sources(http.post("/v2/status_page_maintenances", json=body))
    assert found == [
        ("not_found", "affected_component_ids[1]", "/affected_component_ids/1"),
        ("invalid_value", "affected_component_ids[2]", "/affected_component_ids/2"),
    ]


def test_update_rules_are_refused_with_pointers(
    server: LiveServer, token: str, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a, b, c = list(page.components.values())[:3]
    window = create_window(sdk, page.id, [a, b], START, END)
    base = {"status_page_maintenance_id": window.id, "message": "m", "notify_subscribers": False}
    with raw(server, token) as http:

        def post(extra: dict[str, Any]) -> Any:
            return http.post("/v2/status_page_maintenance_updates", json={**base, **extra})

        assert ("not_allowed", "component_statuses", "/component_statuses") in sources(
            post(
                {
                    "maintenance_status": "maintenance_complete",
                    "component_statuses": [{"component_id": a, "component_status": "operational"}],
                }
            )
        )
        assert (
            "invalid_value",
            "component_statuses[0].component_status",
            "/component_statuses/0/component_status",
        ) in sources(
            post({"component_statuses": [{"component_id": a, "component_status": "full_outage"}]})
        )
        assert (
            "not_found",
            "component_statuses[0].component_id",
            "/component_statuses/0/component_id",
        ) in sources(
            post({"component_statuses": [{"component_id": c, "component_status": "operational"}]})
        )
        assert (
            "not_found",
            "status_page_maintenance_id",
            "/status_page_maintenance_id",
        ) in sources(post({"status_page_maintenance_id": "01NOSUCHWINDOW"}))
        assert ("invalid_value", "maintenance_status", "/maintenance_status") in sources(
            post({"maintenance_status": "resolved"})
        )
        # Nothing of the refused updates was kept.
        shown = http.get(f"/v2/status_page_maintenances/{window.id}").json()
        assert len(shown["status_page_maintenance"]["updates"]) == 1


def test_a_reschedule_with_end_before_start_is_refused_and_an_unknown_window_is_404(
    server: LiveServer, token: str, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    window = create_window(sdk, page.id, [next(iter(page.components.values()))], START, END)
    with raw(server, token) as http:
        body = {"name": "n", "start_at": END.isoformat(), "end_at": START.isoformat()}
        assert ("invalid_value", "end_at", "/end_at") in sources(
            http.put(f"/v2/status_page_maintenances/{window.id}", json=body)
        )
        body = {"name": "n", "start_at": START.isoformat(), "end_at": END.isoformat()}
        missing = http.put("/v2/status_page_maintenances/01NOSUCHWINDOW", json=body)
        assert missing.status_code == 404 and missing.json()["type"] == "not_found"
        assert http.get("/v2/status_page_maintenances/01NOSUCHWINDOW").status_code == 404


def test_the_hundred_and_first_update_is_refused(
    server: LiveServer, token: str, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    window = create_window(sdk, page.id, [next(iter(page.components.values()))], START, END)

    async def count_updates(ctx: AppContext, count: int) -> None:
        async with ctx.db.write() as session:
            row = await session.get(Maintenance, window.id)
            assert row is not None
            row.update_count = count

    server.call(lambda ctx: count_updates(ctx, 99))
    base = {"status_page_maintenance_id": window.id, "message": "m", "notify_subscribers": False}
    try:
        with raw(server, token) as http:
            assert http.post("/v2/status_page_maintenance_updates", json=base).status_code == 201
            refused = http.post("/v2/status_page_maintenance_updates", json=base)
    finally:
        # Back to the updates it has (the suite's audit check counts them: tests/audit/ledger.py).
        server.call(lambda ctx: count_updates(ctx, 2))
    assert ("limit_exceeded", "status_page_maintenance_id", "/status_page_maintenance_id") in (
        sources(refused)
    )


def test_listing_needs_a_known_page_and_a_valid_cursor(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    with raw(server, token) as http:
        assert ("not_found", "status_page_id", "/status_page_id") in sources(
            http.get("/v2/status_page_maintenances", params={"status_page_id": "01NOSUCHPAGE"})
        )
        assert ("invalid_cursor", "after", "/after") in sources(
            http.get(
                "/v2/status_page_maintenances",
                params={"status_page_id": page.id, "after": "01NOSUCHWINDOW"},
            )
        )
        missing = http.get("/v2/status_page_maintenances")
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["source"]["field"] == "status_page_id"


def test_a_window_created_complete_has_closed_periods_and_no_components_left_in_maintenance(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    start = datetime.now(UTC) - timedelta(hours=3)
    window = create_window(
        sdk, page.id, [a], start, start + timedelta(hours=1), status=Status.MAINTENANCE_COMPLETE
    )
    assert window.maintenance_status == "maintenance_complete"
    (period,) = window.component_maintenance_periods
    assert period.start_at == start and period.end_at == start + timedelta(hours=1)
    assert len(window.updates) == 1
