"""schemathesis against Clarion's own OpenAPI document, served by the live server: no 5xx,
and every response conforms to the documented status codes, content types and schemas."""

from __future__ import annotations

import json

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
