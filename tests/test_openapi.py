"""The served OpenAPI document is the committed ``openapi.json``, and it describes the
incident.io operations the SDK calls."""

from __future__ import annotations

import json

import httpx

from clarion import openapi_check
from tests.harness import LiveServer

SDK_OPERATIONS = {
    ("get", "/v2/status_pages"),
    ("get", "/v2/status_pages/{status_page_id}"),
    ("get", "/v2/status_page_structures/{status_page_id}"),
    ("get", "/v2/status_page_incidents"),
    ("post", "/v2/status_page_incidents"),
    ("get", "/v2/status_page_incidents/{status_page_incident_id}"),
    ("put", "/v2/status_page_incidents/{status_page_incident_id}"),
    ("post", "/v2/status_page_incident_updates"),
    ("get", "/v1/identity"),
}


def test_the_served_document_equals_the_committed_one(server: LiveServer) -> None:
    response = httpx.get(server.base_url + "/openapi.json")
    assert response.status_code == 200
    served = response.json()
    committed = json.loads(openapi_check.DOCUMENT.read_text(encoding="utf-8"))
    assert served == committed, "openapi.json is out of date: run `make openapi` and commit it"
    assert openapi_check.main([]) == 0


def test_the_document_covers_the_sdk_operations_with_their_success_codes() -> None:
    document = json.loads(openapi_check.DOCUMENT.read_text(encoding="utf-8"))
    for method, path in SDK_OPERATIONS:
        operation = document["paths"][path][method]
        success = "201" if method == "post" else "200"
        assert success in operation["responses"], (method, path)
        for status in ("401", "422", "429", "500"):
            assert status in operation["responses"], (method, path, status)
