"""``GET /v1/status-pages/{id}/incidents/{incident_id}/response-incidents`` is an empty list."""

from __future__ import annotations

import uuid

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v1 import (
    status_pages_v1_list_response_incidents as list_response_incidents,
)

from tests.factories import PageInfo, make_page
from tests.harness import LiveServer


def _incident(server: LiveServer, token: str, page_id: str) -> str:
    response = httpx.post(
        f"{server.base_url}/v2/status_page_incidents",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "status_page_id": page_id,
            "name": "Linked?",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert response.status_code == 201
    return str(response.json()["status_page_incident"]["id"])


def test_a_known_incident_has_no_linked_response_incidents(
    server: LiveServer, sdk: AuthenticatedClient, token: str, page: PageInfo
) -> None:
    incident_id = _incident(server, token, page.id)
    response = list_response_incidents.sync_detailed(page.id, incident_id, client=sdk)
    assert response.status_code == 200
    assert response.parsed.incidents == []
    assert response.content == b'{"incidents":[]}'


def test_unknown_pages_and_incidents_of_another_page_are_404s(
    server: LiveServer, sdk: AuthenticatedClient, token: str, page: PageInfo
) -> None:
    incident_id = _incident(server, token, page.id)
    other = make_page(server, components=1)
    for page_id, iid in [("nope", incident_id), (page.id, "nope"), (other.id, incident_id)]:
        response = list_response_incidents.sync_detailed(page_id, iid, client=sdk)
        assert response.status_code == 404
        assert response.parsed.type_ == "not_found"
