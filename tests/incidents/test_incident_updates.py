"""Publishing updates to an incident: statuses, component impacts, resolving, the 100 cap."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as create_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_incident as show_incident,
)
from incident_io.models import (
    StatusPageIncidentAffectedComponentV2,
    StatusPageIncidentAffectedComponentV2ComponentStatus,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus,
)
from incident_io.types import UNSET

from tests.contract.checks import Raw, check_response, error_codes
from tests.factories import PageInfo
from tests.harness import LiveServer

Status = StatusPageIncidentAffectedComponentV2ComponentStatus


def new_incident(raw: Raw, page: PageInfo, **extra: Any) -> dict[str, Any]:
    response = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "Database failover",
            "incident_status": "investigating",
            "message": "We are looking into it",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    incident: dict[str, Any] = response.json()["status_page_incident"]
    return incident


def post_update(raw: Raw, incident_id: str, **extra: Any) -> Any:
    return raw.post(
        "/v2/status_page_incident_updates",
        json={
            "status_page_incident_id": incident_id,
            "message": "More news",
            "notify_subscribers": False,
            **extra,
        },
    )


def test_an_update_through_the_sdk_returns_only_the_update_and_changes_the_incident(
    sdk: AuthenticatedClient, raw: Raw, page: PageInfo
) -> None:
    a, b = list(page.components.values())[:2]
    incident = new_incident(
        raw, page, component_statuses=[{"component_id": a, "component_status": "full_outage"}]
    )
    response = create_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentUpdatePayloadV2(
            status_page_incident_id=incident["id"],
            message="Failover started; writes are slow",
            notify_subscribers=False,
            incident_status=StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus.IDENTIFIED,
            component_statuses=[
                StatusPageIncidentAffectedComponentV2(
                    component_id=a, component_status=Status.DEGRADED_PERFORMANCE
                ),
                StatusPageIncidentAffectedComponentV2(
                    component_id=b, component_status=Status.PARTIAL_OUTAGE
                ),
            ],
        ),
    )
    assert response.status_code == 201
    update = response.parsed.status_page_incident_update
    assert update.status_page_incident_id == incident["id"]
    assert update.message == "Failover started; writes are slow"
    assert update.incident_status == "identified"
    assert [(c.component_id, c.component_status) for c in update.component_statuses] == [
        (a, "degraded_performance"),
        (b, "partial_outage"),
    ]
    assert update.published_at.tzinfo is not None
    assert set(response.parsed.to_dict()) == {"status_page_incident_update"}

    shown = show_incident.sync_detailed(incident["id"], client=sdk).parsed.status_page_incident
    assert shown.incident_status == "identified"
    assert shown.updates[0].id == update.id  # newest first
    assert len(shown.updates) == 2
    impacts = sorted(
        ((i.component_id, i.component_status, i.end_at is UNSET) for i in shown.component_impacts),
        key=str,
    )
    # a: full_outage (closed) then degraded (open); b: partial (open).
    assert impacts == sorted(
        [
            (a, "full_outage", False),
            (a, "degraded_performance", True),
            (b, "partial_outage", True),
        ],
        key=str,
    )


def test_an_update_without_a_status_keeps_the_current_one(raw: Raw, page: PageInfo) -> None:
    incident = new_incident(raw, page, incident_status="monitoring")
    response = post_update(raw, incident["id"])
    assert response.status_code == 201
    assert response.json()["status_page_incident_update"]["incident_status"] == "monitoring"
    assert response.json()["status_page_incident_update"]["component_statuses"] == []


def test_resolving_closes_every_impact_and_refuses_component_statuses(
    raw: Raw, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    incident = new_incident(
        raw, page, component_statuses=[{"component_id": a, "component_status": "partial_outage"}]
    )
    refused = post_update(
        raw,
        incident["id"],
        incident_status="resolved",
        component_statuses=[{"component_id": a, "component_status": "operational"}],
    )
    assert refused.status_code == 422
    assert error_codes(refused) == [("not_allowed", "component_statuses", "/component_statuses")]

    resolved = post_update(raw, incident["id"], incident_status="resolved")
    assert resolved.status_code == 201
    shown = raw.get(f"/v2/status_page_incidents/{incident['id']}").json()["status_page_incident"]
    assert shown["incident_status"] == "resolved"
    assert all("end_at" in i for i in shown["component_impacts"])
    assert len(shown["component_impacts"]) == 1


def test_a_resolved_incident_can_be_reopened_by_a_later_update(raw: Raw, page: PageInfo) -> None:
    incident = new_incident(raw, page, incident_status="resolved")
    reopened = post_update(raw, incident["id"], incident_status="investigating")
    assert reopened.status_code == 201
    shown = raw.get(f"/v2/status_page_incidents/{incident['id']}").json()["status_page_incident"]
    assert shown["incident_status"] == "investigating"


def test_update_validation_points_at_each_field(raw: Raw, page: PageInfo) -> None:
    a = next(iter(page.components.values()))
    incident = new_incident(raw, page)
    cases: list[tuple[dict[str, Any], tuple[str, str, str]]] = [
        ({"message": ""}, ("is_required", "message", "/message")),
        ({"message": "x" * 4097}, ("too_long", "message", "/message")),
        ({"incident_status": "paused"}, ("invalid_value", "incident_status", "/incident_status")),
        (
            {"component_statuses": [{"component_id": a, "component_status": "broken"}]},
            (
                "invalid_value",
                "component_statuses[0].component_status",
                "/component_statuses/0/component_status",
            ),
        ),
        (
            {
                "component_statuses": [
                    {"component_id": "01NOSUCHCOMPONENT00000000", "component_status": "full_outage"}
                ]
            },
            (
                "not_found",
                "component_statuses[0].component_id",
                "/component_statuses/0/component_id",
            ),
        ),
        (
            {
                "component_statuses": [
                    {"component_id": a, "component_status": "full_outage"},
                    {"component_id": a, "component_status": "partial_outage"},
                ]
            },
            (
                "invalid_value",
                "component_statuses[1].component_id",
                "/component_statuses/1/component_id",
            ),
        ),
        (
            {"status_page_incident_id": "01NOSUCHINCIDENT000000000"},
            ("not_found", "status_page_incident_id", "/status_page_incident_id"),
        ),
    ]
    for extra, expected in cases:
        response = post_update(raw, incident["id"], **extra)
        assert response.status_code == 422, (extra, response.text)
        assert error_codes(response) == [expected], extra
    missing = raw.post(
        "/v2/status_page_incident_updates", json={"status_page_incident_id": incident["id"]}
    )
    assert missing.status_code == 422
    assert sorted(error_codes(missing)) == [
        ("is_required", "message", "/message"),
        ("is_required", "notify_subscribers", "/notify_subscribers"),
    ]
    shown = raw.get(f"/v2/status_page_incidents/{incident['id']}").json()["status_page_incident"]
    assert len(shown["updates"]) == 1, "a refused update must leave nothing behind"


async def _concurrent_updates(
    base_url: str, token: str, incident_id: str, count: int
) -> list[httpx.Response]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v2/status_page_incident_updates",
                    json={
                        "status_page_incident_id": incident_id,
                        "message": f"Racing {n}",
                        "notify_subscribers": False,
                    },
                )
                for n in range(count)
            )
        )
        for response in responses:
            await response.aread()
            check_response(response)
        return list(responses)


def test_an_incident_takes_at_most_100_updates_even_when_they_race(
    server: LiveServer, token: str, raw: Raw, page: PageInfo
) -> None:
    incident = new_incident(raw, page)
    for n in range(95):
        response = post_update(raw, incident["id"], message=f"Update {n}")
        assert response.status_code == 201, (n, response.text)
    raced = asyncio.run(_concurrent_updates(server.base_url, token, incident["id"], 10))
    assert sorted(r.status_code for r in raced) == [201] * 4 + [422] * 6
    refused = post_update(raw, incident["id"], message="One too many")
    assert refused.status_code == 422
    assert error_codes(refused) == [
        ("limit_exceeded", "status_page_incident_id", "/status_page_incident_id")
    ]
    shown = raw.get(f"/v2/status_page_incidents/{incident['id']}").json()["status_page_incident"]
    assert len(shown["updates"]) == 100
    published = [u["published_at"] for u in shown["updates"]]
    assert published == sorted(published, reverse=True)
    assert len(set(published)) == 100
