"""schemathesis against Clarion's own OpenAPI document, served by the live server: no 5xx,
and every response conforms to the documented status codes, content types and schemas."""

from __future__ import annotations

import json
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clarion import openapi_check
from tests.contract.checks import Raw
from tests.factories import PageInfo
from tests.harness import LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 30


def _operations() -> list[str]:
    document = json.loads(openapi_check.DOCUMENT.read_text(encoding="utf-8"))
    return sorted(
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


@pytest.fixture(scope="session")
def served_schema(server: LiveServer) -> schemathesis.BaseSchema:
    """The document as the live server serves it (the same as the committed one, see
    ``test_openapi.py``)."""
    return schemathesis.openapi.from_url(server.base_url + "/openapi.json")


@pytest.mark.parametrize("label", _operations())
def test_every_operation_answers_within_its_schema(
    label: str, served_schema: schemathesis.BaseSchema, server: LiveServer, token: str
) -> None:
    (operation,) = [
        result.ok() for result in served_schema.get_all_operations() if result.ok().label == label
    ]
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=server.base_url, headers=headers, checks=CHECKS, timeout=30)

    run()


SEEDED_OPERATIONS = [
    "GET /v2/status_pages/{status_page_id}",
    "GET /v2/status_page_structures/{status_page_id}",
    "GET /v2/status_page_incidents",
    "POST /v2/status_page_incidents",
    "GET /v2/status_page_incidents/{status_page_incident_id}",
    "PUT /v2/status_page_incidents/{status_page_incident_id}",
    "POST /v2/status_page_incident_updates",
]


@pytest.mark.parametrize("label", SEEDED_OPERATIONS)
def test_operations_answer_within_their_schema_with_real_ids(
    label: str,
    served_schema: schemathesis.BaseSchema,
    server: LiveServer,
    token: str,
    page: PageInfo,
) -> None:
    """The same checks with the ids replaced by ones that exist, so that generated requests
    get past the lookups and into the services."""
    (operation,) = [
        result.ok() for result in served_schema.get_all_operations() if result.ok().label == label
    ]
    raw = Raw(server.base_url, token)
    incident = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "Seed",
            "incident_status": "investigating",
            "message": "Seed",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    ).json()["status_page_incident"]["id"]
    raw.close()
    real = {"status_page_id": page.id, "status_page_incident_id": incident}
    components = list(page.components.values())
    headers = {"Authorization": f"Bearer {token}"}

    def seed(case: schemathesis.Case) -> None:
        for container in (case.path_parameters, case.query):
            if isinstance(container, dict):
                for name, value in real.items():
                    if name in container:
                        container[name] = value
        if isinstance(case.body, dict):
            for name, value in real.items():
                if name in case.body:
                    case.body[name] = value
            statuses = case.body.get("component_statuses")
            if isinstance(statuses, list):
                for index, entry in enumerate(statuses):
                    if isinstance(entry, dict) and "component_id" in entry:
                        entry["component_id"] = components[index % len(components)]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        seed(case)
        case.call_and_validate(base_url=server.base_url, headers=headers, checks=CHECKS, timeout=30)

    run()
