"""Retrospective incidents: backfilled timelines, their rules, idempotency and own rate limit."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_retrospective_incident as create_retro,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_component_availability as show_availability,
)
from incident_io.models import (
    StatusPageIncidentAffectedComponentV2,
    StatusPageIncidentAffectedComponentV2ComponentStatus,
    StatusPageRetrospectiveIncidentUpdateV2,
    StatusPageRetrospectiveIncidentUpdateV2IncidentStatus,
    StatusPagesCreateStatusPageRetrospectiveIncidentPayloadV2,
)
from sqlalchemy import func, select

from clarion.context import AppContext
from clarion.ids import new_id
from clarion.notifications.models import OutboxMessage
from clarion.subscribers.models import Subscription
from tests.contract.checks import check_response
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server

Status = StatusPageRetrospectiveIncidentUpdateV2IncidentStatus
ComponentStatus = StatusPageIncidentAffectedComponentV2ComponentStatus


def _at(server: LiveServer, days_ago: float, hours: float = 0) -> datetime:
    start = server.clock.now().replace(microsecond=0) - timedelta(days=days_ago)
    return start + timedelta(hours=hours)


def _raw_update(status: str, at: datetime) -> dict[str, Any]:
    return {"incident_status": status, "message": f"{status} note", "published_at": at.isoformat()}


def _post(server: LiveServer, token: str, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(
        f"{server.base_url}/v2/status_page_retrospective_incidents",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=30,
    )
    check_response(response)
    return response


def test_a_backfilled_timeline_keeps_its_timestamps_and_counts_against_availability(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    api = next(iter(page.components.values()))
    t0 = _at(server, 10)
    t1, t2 = t0 + timedelta(hours=1), t0 + timedelta(hours=2)
    response = create_retro.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageRetrospectiveIncidentPayloadV2(
            status_page_id=page.id,
            name="Database failover",
            idempotency_key=str(uuid.uuid4()),
            updates=[
                StatusPageRetrospectiveIncidentUpdateV2(
                    incident_status=Status.INVESTIGATING,
                    message="Database unreachable",
                    published_at=t0,
                    component_statuses=[
                        StatusPageIncidentAffectedComponentV2(
                            component_id=api, component_status=ComponentStatus.FULL_OUTAGE
                        )
                    ],
                ),
                StatusPageRetrospectiveIncidentUpdateV2(
                    incident_status=Status.MONITORING,
                    message="Failed over; slow while caches warm",
                    published_at=t1,
                    component_statuses=[
                        StatusPageIncidentAffectedComponentV2(
                            component_id=api,
                            component_status=ComponentStatus.DEGRADED_PERFORMANCE,
                        )
                    ],
                ),
                StatusPageRetrospectiveIncidentUpdateV2(
                    incident_status=Status.RESOLVED, message="All good", published_at=t2
                ),
            ],
        ),
    )
    assert response.status_code == 201
    incident = response.parsed.status_page_incident
    assert incident.incident_status == "resolved"
    assert incident.published_at == t0
    assert [u.published_at for u in incident.updates] == [t2, t1, t0]
    assert [u.message for u in incident.updates][-1] == "Database unreachable"
    impacts = [(i.component_status, i.start_at, i.end_at) for i in incident.component_impacts]
    assert impacts == [("full_outage", t0, t1), ("degraded_performance", t1, t2)]

    # The ledger carries the past times: one hour of full outage, degraded time counts as up.
    availability = show_availability.sync_detailed(
        page.id, api, client=sdk, start_at=t0 - timedelta(days=1), end_at=t0 + timedelta(days=1)
    ).parsed.availability
    assert availability.data_available_since == t0
    assert availability.availability_percent == "95.83"  # floor(100 * 23 / 24, 2)


def test_a_reused_idempotency_key_replays_the_first_incident(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    key = uuid.uuid4().hex
    body = {
        "status_page_id": page.id,
        "name": "Blip",
        "idempotency_key": key,
        "updates": [_raw_update("resolved", _at(server, 1))],
    }
    first = _post(server, token, body)
    again = _post(server, token, body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    different = _post(server, token, {**body, "name": "Another"})
    assert different.status_code == 422
    assert different.json()["errors"][0]["code"] == "idempotency_key_reused"


def test_timelines_that_break_the_rules_are_refused_with_the_offending_update(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    api = next(iter(page.components.values()))
    past, later = _at(server, 2), _at(server, 1)
    future = server.clock.now() + timedelta(hours=1)
    outage = [{"component_id": api, "component_status": "partial_outage"}]
    cases: list[tuple[list[dict[str, Any]], str, str]] = [
        ([_raw_update("resolved", future)], "invalid_value", "updates[0].published_at"),
        (
            [_raw_update("investigating", later), _raw_update("resolved", past)],
            "invalid_value",
            "updates[1].published_at",
        ),
        (
            [_raw_update("investigating", past), _raw_update("resolved", past)],
            "invalid_value",
            "updates[1].published_at",
        ),
        (
            [_raw_update("investigating", past), _raw_update("monitoring", later)],
            "invalid_value",
            "updates[1].incident_status",
        ),
        (
            [_raw_update("resolved", past), _raw_update("resolved", later)],
            "not_allowed",
            "updates[0].incident_status",
        ),
        (
            [
                _raw_update("investigating", past),
                {**_raw_update("resolved", later), "component_statuses": outage},
            ],
            "not_allowed",
            "updates[1].component_statuses",
        ),
        (
            [
                {
                    **_raw_update("investigating", past),
                    "component_statuses": [
                        {"component_id": "nope", "component_status": "full_outage"}
                    ],
                },
                _raw_update("resolved", later),
            ],
            "not_found",
            "updates[0].component_statuses[0].component_id",
        ),
        ([], "too_short", "updates"),
    ]
    for updates, code, field in cases:
        response = _post(
            server,
            token,
            {
                "status_page_id": page.id,
                "name": "Rule check",
                "idempotency_key": uuid.uuid4().hex,
                "updates": updates,
            },
        )
        assert response.status_code == 422, (field, response.text)
        errors = response.json()["errors"]
        assert (code, field) in [(e["code"], e["source"]["field"]) for e in errors], errors

    # The final update may list components as operational: it changes nothing.
    fine = _post(
        server,
        token,
        {
            "status_page_id": page.id,
            "name": "Allowed",
            "idempotency_key": uuid.uuid4().hex,
            "updates": [
                {**_raw_update("investigating", past), "component_statuses": outage},
                {
                    **_raw_update("resolved", later),
                    "component_statuses": [
                        {"component_id": api, "component_status": "operational"}
                    ],
                },
            ],
        },
    )
    assert fine.status_code == 201, fine.text
    unknown_page = _post(
        server,
        token,
        {
            "status_page_id": "no-such-page",
            "name": "x",
            "idempotency_key": uuid.uuid4().hex,
            "updates": [_raw_update("resolved", past)],
        },
    )
    assert unknown_page.status_code == 422
    assert unknown_page.json()["errors"][0]["source"]["field"] == "status_page_id"


def test_publishing_needs_the_publisher_role(server: LiveServer, page: PageInfo) -> None:
    viewer = make_key(server, "viewer")
    response = _post(
        server,
        viewer,
        {
            "status_page_id": page.id,
            "name": "x",
            "idempotency_key": uuid.uuid4().hex,
            "updates": [_raw_update("resolved", _at(server, 1))],
        },
    )
    assert response.status_code == 403


def test_a_retrospective_incident_never_notifies_subscribers(
    server: LiveServer, token: str
) -> None:
    page = make_page(server, components=2)

    async def subscribe(ctx: AppContext) -> str:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            sub = Subscription(
                id=new_id(),
                status_page_id=page.id,
                channel="email",
                email=f"{uuid.uuid4().hex[:8]}@example.com",
                component_ids=[],
                confirmed_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(sub)
            return sub.id

    subscription_id = server.call(subscribe)

    async def queued(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.subscription_id == subscription_id)
            )
        return int(count or 0)

    api = next(iter(page.components.values()))
    response = _post(
        server,
        token,
        {
            "status_page_id": page.id,
            "name": "Quiet backfill",
            "idempotency_key": uuid.uuid4().hex,
            "updates": [
                {
                    **_raw_update("investigating", _at(server, 3)),
                    "component_statuses": [
                        {"component_id": api, "component_status": "full_outage"}
                    ],
                },
                _raw_update("resolved", _at(server, 2)),
            ],
        },
    )
    assert response.status_code == 201
    assert server.call(queued) == 0

    # The same subscriber does hear about a live incident that asks to notify.
    live = httpx.post(
        f"{server.base_url}/v2/status_page_incidents",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "status_page_id": page.id,
            "name": "Live",
            "incident_status": "investigating",
            "message": "Now",
            "notify_subscribers": True,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert live.status_code == 201
    assert server.call(queued) == 1


def test_the_retrospective_bucket_admits_exactly_its_capacity_under_concurrent_requests(
    tmp_path: Path,
) -> None:
    capacity, attempts = 4, 12
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(
            url,
            retrospective_rate_limit_capacity=capacity,
            retrospective_rate_limit_refill_per_second=0.01,
        ) as srv,
    ):
        page = make_page(srv, components=1)
        token = make_key(srv)
        barrier = threading.Barrier(attempts)
        results: list[httpx.Response] = []
        lock = threading.Lock()

        def fire() -> None:
            body = {
                "status_page_id": page.id,
                "name": "Burst",
                "idempotency_key": uuid.uuid4().hex,
                "updates": [_raw_update("resolved", _at(srv, 1))],
            }
            barrier.wait()
            response = _post(srv, token, body)
            with lock:
                results.append(response)

        threads = [threading.Thread(target=fire) for _ in range(attempts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] * capacity + [429] * (attempts - capacity)
        limited = next(r for r in results if r.status_code == 429)
        assert int(limited.headers["Retry-After"]) >= 1
        body = limited.json()
        assert body["rate_limit"]["name"] == "api_key:retrospective"
        assert body["rate_limit"]["limit"] == capacity
        # The general bucket is untouched: other endpoints still answer.
        other = httpx.get(
            f"{srv.base_url}/v2/status_pages", headers={"Authorization": f"Bearer {token}"}
        )
        assert other.status_code == 200
