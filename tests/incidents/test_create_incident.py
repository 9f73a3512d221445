"""Creating incidents through incident.io's SDK and over raw HTTP."""

from __future__ import annotations

import uuid

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident as create_incident,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as create_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_incident as show_incident,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_incident as rename_incident,
)
from incident_io.models import (
    ErrorResponse,
    StatusPageIncidentAffectedComponentV2,
    StatusPageIncidentAffectedComponentV2ComponentStatus,
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus,
    StatusPagesUpdateStatusPageIncidentPayloadV2,
)

from tests.contract.checks import Raw, error_codes
from tests.factories import PageInfo
from tests.harness import LiveServer


def test_an_incident_created_through_the_sdk_comes_back_with_its_first_update_and_impacts(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    api = next(iter(page.components.values()))
    response = create_incident.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentPayloadV2(
            status_page_id=page.id,
            name="Elevated API latency",
            incident_status=StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus.INVESTIGATING,
            message="We are looking into it",
            notify_subscribers=False,
            idempotency_key=str(uuid.uuid4()),
            component_statuses=[
                StatusPageIncidentAffectedComponentV2(
                    component_id=api,
                    component_status=StatusPageIncidentAffectedComponentV2ComponentStatus.DEGRADED_PERFORMANCE,
                )
            ],
        ),
    )
    assert response.status_code == 201
    incident = response.parsed.status_page_incident
    assert incident.name == "Elevated API latency"
    assert incident.incident_status == "investigating"
    assert incident.published_at.tzinfo is not None
    assert len(incident.updates) == 1
    assert incident.updates[0].message == "We are looking into it"
    assert [i.component_id for i in incident.component_impacts] == [api]
    assert incident.component_impacts[0].component_status == "degraded_performance"

    resolved = create_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentUpdatePayloadV2(
            status_page_incident_id=incident.id,
            message="All good",
            notify_subscribers=False,
            incident_status=StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus.RESOLVED,
        ),
    )
    assert resolved.status_code == 201
    assert resolved.parsed.status_page_incident_update.incident_status == "resolved"

    shown = show_incident.sync_detailed(incident.id, client=sdk).parsed.status_page_incident
    assert shown.incident_status == "resolved"
    assert [u.message for u in shown.updates] == ["All good", "We are looking into it"]
    (impact,) = shown.component_impacts
    assert impact.end_at is not None and impact.end_at >= impact.start_at


def test_a_missing_name_is_a_422_pointing_at_the_field(
    server: LiveServer, token: str, page: PageInfo
) -> None:
    response = httpx.post(
        f"{server.base_url}/v2/status_page_incidents",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "status_page_id": page.id,
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": "k-" + uuid.uuid4().hex,
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"] == [
        {
            "code": "is_required",
            "message": "name is required",
            "source": {"field": "name", "pointer": "/name"},
        }
    ]


def _payload(page_id: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "status_page_id": page_id,
        "name": "Checkout errors",
        "incident_status": "identified",
        "message": "Payments fail for some cards",
        "notify_subscribers": False,
        "idempotency_key": uuid.uuid4().hex,
    }
    body.update(overrides)
    return body


def test_show_returns_the_incident_as_created_and_unknown_ids_are_404(
    sdk: AuthenticatedClient, raw: Raw, page: PageInfo
) -> None:
    created = raw.post("/v2/status_page_incidents", json=_payload(page.id)).json()
    incident_id = created["status_page_incident"]["id"]
    shown = show_incident.sync_detailed(incident_id, client=sdk)
    assert shown.status_code == 200
    incident = shown.parsed.status_page_incident
    assert (incident.id, incident.name, incident.status_page_id) == (
        incident_id,
        "Checkout errors",
        page.id,
    )
    assert incident.incident_status == "identified"
    assert [u.message for u in incident.updates] == ["Payments fail for some cards"]
    assert incident.updates[0].status_page_incident_id == incident_id
    assert incident.updates[0].published_at == incident.published_at
    assert raw.get(f"/v2/status_page_incidents/{incident_id}").json() == created
    missing = show_incident.sync_detailed("01NOSUCHINCIDENT000000000", client=sdk)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, ErrorResponse)
    assert missing.parsed.errors[0].code == "not_found"


def test_renaming_changes_only_the_title_and_publishes_no_update(
    sdk: AuthenticatedClient, raw: Raw, page: PageInfo
) -> None:
    api = next(iter(page.components.values()))
    created = raw.post(
        "/v2/status_page_incidents",
        json=_payload(
            page.id, component_statuses=[{"component_id": api, "component_status": "full_outage"}]
        ),
    ).json()["status_page_incident"]
    response = rename_incident.sync_detailed(
        created["id"],
        client=sdk,
        body=StatusPagesUpdateStatusPageIncidentPayloadV2(name="Card payments failing"),
    )
    assert response.status_code == 200
    renamed = response.parsed.status_page_incident
    assert renamed.name == "Card payments failing"
    assert renamed.incident_status == "identified"
    assert len(renamed.updates) == 1
    assert [(i.component_id, i.component_status) for i in renamed.component_impacts] == [
        (api, "full_outage")
    ]
    after = raw.get(f"/v2/status_page_incidents/{created['id']}").json()["status_page_incident"]
    assert after == {**created, "name": "Card payments failing"}


def test_renaming_validates_the_name_and_the_incident(raw: Raw, page: PageInfo) -> None:
    incident_id = raw.post("/v2/status_page_incidents", json=_payload(page.id)).json()[
        "status_page_incident"
    ]["id"]
    for body, code in (
        ({}, "is_required"),
        ({"name": "  "}, "is_required"),
        ({"name": "x" * 201}, "too_long"),
        ({"name": 5}, "invalid_type"),
    ):
        response = raw.put(f"/v2/status_page_incidents/{incident_id}", json=body)
        assert response.status_code == 422, body
        assert error_codes(response) == [(code, "name", "/name")]
    assert raw.put(f"/v2/status_page_incidents/{incident_id}", json={"name": "x" * 200}).is_success
    unknown = raw.put("/v2/status_page_incidents/01NOSUCHINCIDENT000000000", json={"name": "n"})
    assert unknown.status_code == 404


def test_create_accepts_operational_components_without_making_an_impact(
    raw: Raw, page: PageInfo
) -> None:
    a, b = list(page.components.values())[:2]
    body = raw.post(
        "/v2/status_page_incidents",
        json=_payload(
            page.id,
            component_statuses=[
                {"component_id": a, "component_status": "operational"},
                {"component_id": b, "component_status": "partial_outage"},
            ],
        ),
    ).json()["status_page_incident"]
    assert [i["component_id"] for i in body["component_impacts"]] == [b]
    assert "end_at" not in body["component_impacts"][0]
    assert body["updates"][0]["component_statuses"] == [
        {"component_id": a, "component_status": "operational"},
        {"component_id": b, "component_status": "partial_outage"},
    ]
    assert body["published_at"] == body["updates"][0]["published_at"]


def test_an_incident_created_resolved_has_no_open_impacts(raw: Raw, page: PageInfo) -> None:
    body = raw.post(
        "/v2/status_page_incidents", json=_payload(page.id, incident_status="resolved")
    ).json()["status_page_incident"]
    assert body["incident_status"] == "resolved"
    assert body["component_impacts"] == []
