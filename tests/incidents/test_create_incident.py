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
from incident_io.models import (
    StatusPageIncidentAffectedComponentV2,
    StatusPageIncidentAffectedComponentV2ComponentStatus,
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus,
)

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
