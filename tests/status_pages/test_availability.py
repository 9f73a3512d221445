"""A component's availability on a page, over HTTP and through incident.io's SDK.

These tests move the clock, so they run on a server of their own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_component_availability as show_availability,
)
from incident_io.types import UNSET

from clarion.components.models import ComponentDowntime
from clarion.context import AppContext
from tests.contract.checks import SDK_HTTPX_ARGS, check_response
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server


@pytest.fixture(scope="module")
def clock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("availability")
    with fresh_database(str(tmp)) as url, live_server(url) as srv:
        yield srv


@pytest.fixture
def client(clock_server: LiveServer) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(
        base_url=clock_server.base_url,
        token=make_key(clock_server),
        raise_on_unexpected_status=True,
        httpx_args=SDK_HTTPX_ARGS,
    ) as sdk:
        yield sdk


def _headers(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(server)}"}


def _retro(server: LiveServer, page: PageInfo, timeline: list[tuple[datetime, str, str]]) -> None:
    """A retrospective incident: (time, incident status, status of the first component)."""
    component = next(iter(page.components.values()))
    updates: list[dict[str, Any]] = []
    for at, status, component_status in timeline:
        update: dict[str, Any] = {
            "incident_status": status,
            "message": status,
            "published_at": at.isoformat(),
        }
        if status != "resolved":
            update["component_statuses"] = [
                {"component_id": component, "component_status": component_status}
            ]
        updates.append(update)
    response = httpx.post(
        f"{server.base_url}/v2/status_page_retrospective_incidents",
        headers=_headers(server),
        json={
            "status_page_id": page.id,
            "name": "Backfill",
            "idempotency_key": uuid.uuid4().hex,
            "updates": updates,
        },
    )
    assert response.status_code == 201, response.text


def _availability(server: LiveServer, page: PageInfo, start: datetime, end: datetime) -> Any:
    component = next(iter(page.components.values()))
    response = httpx.get(
        f"{server.base_url}/v2/status_pages/{page.id}/components/{component}/availability",
        headers=_headers(server),
        params={"start_at": start.isoformat(), "end_at": end.isoformat()},
    )
    assert response.status_code == 200, response.text
    check_response(response)
    return response.json()["availability"]


def test_a_quiet_component_is_fully_available_from_when_its_data_starts(
    clock_server: LiveServer, client: AuthenticatedClient
) -> None:
    page = make_page(clock_server, components=1)
    component = next(iter(page.components.values()))
    clock_server.clock.offset += timedelta(hours=1)
    now = clock_server.clock.now()
    result = show_availability.sync_detailed(
        page.id, component, client=client, start_at=now - timedelta(days=30), end_at=now
    ).parsed.availability
    assert result.availability_percent == "100.00"
    assert result.component_id == component and result.status_page_id == page.id
    assert result.start_at == now - timedelta(days=30) and result.end_at == now
    assert now - timedelta(hours=1, seconds=30) < result.data_available_since < now


def test_a_window_before_any_data_has_no_percentage(clock_server: LiveServer) -> None:
    page = make_page(clock_server, components=1)
    now = clock_server.clock.now()
    body = _availability(clock_server, page, now - timedelta(days=9), now - timedelta(days=8))
    assert "availability_percent" not in body
    assert body["data_available_since"]


def test_overlapping_outages_are_counted_once_and_degraded_time_counts_as_up(
    clock_server: LiveServer,
) -> None:
    page = make_page(clock_server, components=1)
    t0 = clock_server.clock.now().replace(microsecond=0) - timedelta(days=20)
    hour = timedelta(hours=1)
    _retro(
        clock_server, page, [(t0, "investigating", "full_outage"), (t0 + 2 * hour, "resolved", "")]
    )
    _retro(
        clock_server,
        page,
        [
            (t0 + hour, "investigating", "partial_outage"),
            (t0 + 3 * hour, "monitoring", "degraded_performance"),
            (t0 + 10 * hour, "resolved", ""),
        ],
    )
    body = _availability(clock_server, page, t0 - timedelta(days=2), t0 + timedelta(days=1))
    # Covered: from the first data (t0) for a day; down 3 hours (t0..t0+3h, merged).
    assert body["data_available_since"].startswith(t0.strftime("%Y-%m-%dT%H:%M:%S"))
    assert body["availability_percent"] == "87.50"
    # Floored, not rounded: 1 hour down in 7 hours covered is 85.714...%.
    body = _availability(clock_server, page, t0 + 2 * hour, t0 + 9 * hour)
    assert body["availability_percent"] == "85.71"


def test_an_ongoing_outage_counts_until_now_and_the_future_is_left_out(
    clock_server: LiveServer, client: AuthenticatedClient
) -> None:
    page = make_page(clock_server, components=1)
    component = next(iter(page.components.values()))
    start = clock_server.clock.now()
    clock_server.clock.offset += timedelta(hours=23)
    created = httpx.post(
        f"{clock_server.base_url}/v2/status_page_incidents",
        headers=_headers(clock_server),
        json={
            "status_page_id": page.id,
            "name": "Down",
            "incident_status": "investigating",
            "message": "Down",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
            "component_statuses": [{"component_id": component, "component_status": "full_outage"}],
        },
    )
    assert created.status_code == 201
    clock_server.clock.offset += timedelta(hours=1)
    result = show_availability.sync_detailed(
        page.id,
        component,
        client=client,
        start_at=start - timedelta(days=1),
        end_at=start + timedelta(days=5),
    ).parsed.availability
    # About 1 hour down out of 24 covered; the 4 future days count neither way.
    assert result.availability_percent is not UNSET
    assert 95.8 <= float(result.availability_percent) <= 95.84


def test_bad_windows_are_422s_pointing_at_the_parameter(clock_server: LiveServer) -> None:
    page = make_page(clock_server, components=1)
    component = next(iter(page.components.values()))
    url = f"{clock_server.base_url}/v2/status_pages/{page.id}/components/{component}/availability"
    headers = _headers(clock_server)
    start = "2026-01-01T00:00:00Z"
    cases = [
        ({"end_at": start}, "is_required", "start_at"),
        ({"start_at": start}, "is_required", "end_at"),
        ({"start_at": "yesterday", "end_at": start}, "invalid_value", "start_at"),
        ({"start_at": start, "end_at": start}, "invalid_value", "end_at"),
        ({"start_at": start, "end_at": "2025-12-31T00:00:00Z"}, "invalid_value", "end_at"),
        ({"start_at": start, "end_at": "2027-01-02T00:00:01Z"}, "invalid_value", "end_at"),
    ]
    for params, code, field in cases:
        response = httpx.get(url, headers=headers, params=params)
        assert response.status_code == 422, (params, response.text)
        check_response(response)
        (error,) = response.json()["errors"]
        assert (error["code"], error["source"]["field"]) == (code, field), params
    # Exactly 366 days is allowed; naive timestamps (as the SDK sends them) are UTC.
    ok = httpx.get(
        url,
        headers=headers,
        params={"start_at": "2026-01-01T00:00:00", "end_at": "2027-01-02T00:00:00"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["availability"]["end_at"] == "2027-01-02T00:00:00.000000Z"


def test_unknown_pages_and_components_off_the_page_are_404s(clock_server: LiveServer) -> None:
    page = make_page(clock_server, components=2, with_group=False)
    other = make_page(clock_server, components=1)
    mine = next(iter(page.components.values()))
    theirs = next(iter(other.components.values()))
    headers = _headers(clock_server)
    params = {"start_at": "2026-01-01T00:00:00Z", "end_at": "2026-02-01T00:00:00Z"}
    base = clock_server.base_url
    for page_id, component_id in [("nope", mine), (page.id, theirs), (page.id, "nope")]:
        response = httpx.get(
            f"{base}/v2/status_pages/{page_id}/components/{component_id}/availability",
            headers=headers,
            params=params,
        )
        assert response.status_code == 404, (page_id, component_id)
        assert response.json()["type"] == "not_found"
    assert (
        httpx.get(
            f"{base}/v2/status_pages/{page.id}/components/{mine}/availability",
            headers=headers,
            params=params,
        ).status_code
        == 200
    )


def test_the_roll_up_answers_like_the_ledger_and_is_rebuilt_after_a_write(
    clock_server: LiveServer,
) -> None:
    page = make_page(clock_server, components=1)
    component = next(iter(page.components.values()))
    t0 = clock_server.clock.now().replace(microsecond=0) - timedelta(days=30)
    hour = timedelta(hours=1)
    for offset in range(0, 48, 6):
        _retro(
            clock_server,
            page,
            [
                (t0 + offset * hour, "investigating", "full_outage"),
                (t0 + (offset + 1) * hour, "monitoring", "degraded_performance"),
                (t0 + (offset + 2) * hour, "resolved", ""),
            ],
        )
    windows = [
        (t0 - timedelta(days=1), t0 + timedelta(days=3)),
        (t0 + timedelta(minutes=30), t0 + 7 * hour),
        (t0 + 13 * hour, t0 + 13 * hour + timedelta(minutes=20)),
    ]
    first = [_availability(clock_server, page, a, b) for a, b in windows]

    async def stored(ctx: AppContext) -> int | None:
        async with ctx.db.read() as session:
            row = await session.get(ComponentDowntime, (page.id, component))
            return None if row is None else row.ledger_rows

    assert clock_server.call(stored) == 24  # read from the ledger, then cached
    again = [_availability(clock_server, page, a, b) for a, b in windows]
    assert again == first
    assert [b["availability_percent"] for b in first] == ["88.88", "76.92", "100.00"]

    # A new outage invalidates the roll-up: the answer reflects it at once.
    _retro(
        clock_server,
        page,
        [(t0 + 3 * hour, "investigating", "partial_outage"), (t0 + 4 * hour, "resolved", "")],
    )
    after = _availability(clock_server, page, *windows[1])
    assert after["availability_percent"] == "61.53"
    assert clock_server.call(stored) == 26


def test_concurrent_requests_that_all_rebuild_the_roll_up_agree(clock_server: LiveServer) -> None:
    page = make_page(clock_server, components=1)
    t0 = clock_server.clock.now().replace(microsecond=0) - timedelta(days=5)
    _retro(
        clock_server,
        page,
        [(t0, "investigating", "full_outage"), (t0 + timedelta(hours=6), "resolved", "")],
    )
    component = next(iter(page.components.values()))
    url = f"{clock_server.base_url}/v2/status_pages/{page.id}/components/{component}/availability"
    headers = _headers(clock_server)
    params = {"start_at": t0.isoformat(), "end_at": (t0 + timedelta(days=1)).isoformat()}
    barrier = threading.Barrier(8)

    def fetch() -> httpx.Response:
        barrier.wait()
        return httpx.get(url, headers=headers, params=params, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: fetch(), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert {r.json()["availability"]["availability_percent"] for r in responses} == {"75.00"}
    assert (
        _availability(clock_server, page, t0, t0 + timedelta(days=1))["availability_percent"]
        == "75.00"
    )
