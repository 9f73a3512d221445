"""A JSON ``null`` in an optional request field means the field was left out; a ``null`` in a
required one is a 422 ``is_required`` at the field's pointer. Never a 5xx.

Every field of every request body, at any depth, and every query parameter comes from the app's
OpenAPI document (``request_samples.fields``), so a field added later is covered here without
editing this module. A query string has no ``null``: its null-like value is the empty one.
"""

from __future__ import annotations

from typing import Any

import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_page_components_v2 import (
    status_page_components_v2_create as create_component,
)
from incident_io.api.status_page_components_v2 import (
    status_page_components_v2_update as update_component,
)
from incident_io.models import (
    ErrorResponse,
    StatusPageComponentsCreatePayloadV2,
    StatusPageComponentsUpdatePayloadV2,
    StatusPageComponentV2,
)
from incident_io.types import UNSET

from tests.contract.checks import Raw, error_codes
from tests.factories import PageInfo
from tests.http.request_samples import SAMPLES, Field, fields, operations, sample, send_with

FIELDS = fields()
OPTIONAL = [f for f in FIELDS if not f.required]
REQUIRED = [f for f in FIELDS if f.required]


def null_of(target: Field) -> Any:
    return "" if target.where == "query" else None


def outcome(response: Any) -> tuple[int, list[Any]]:
    """The status and, for an error, its codes: what must not depend on null versus absent."""
    assert response.status_code < 500, response.text
    errors = error_codes(response) if response.status_code >= 400 else []
    return response.status_code, errors


def test_every_operation_with_inputs_has_a_sample() -> None:
    assert set(operations()) == set(SAMPLES)


def test_the_document_lists_the_optional_fields_known_to_have_failed() -> None:
    names = {(f.operation_id, f.pointer) for f in OPTIONAL}
    assert ("StatusPageComponentsV2_Create", "/description") in names
    assert ("StatusPageComponentsV2_Update", "/description") in names
    assert ("StatusPagesV2_CreateStatusPageIncident", "/component_statuses") in names
    assert ("StatusPagesV2_CreateStatusPageIncidentUpdate", "/component_statuses") in names
    retrospective = "StatusPagesV2_CreateStatusPageRetrospectiveIncident"
    assert (retrospective, "/updates/0/component_statuses") in names
    assert ("StatusPagesV2_CreateStatusPageMaintenance", "/automate_maintenance_status") in names


@pytest.mark.parametrize("operation_id", sorted(SAMPLES))
def test_every_sample_request_is_valid_as_it_stands(
    raw: Raw, page: PageInfo, operation_id: str
) -> None:
    response = sample(raw, page, operation_id).send(raw)
    assert 200 <= response.status_code < 300, response.text


@pytest.mark.parametrize("target", OPTIONAL, ids=str)
def test_a_null_optional_field_is_treated_as_left_out(
    raw: Raw, page: PageInfo, target: Field
) -> None:
    with_null = sample(raw, page, target.operation_id).with_value(target, null_of(target))
    left_out = sample(raw, page, target.operation_id).without(target)
    null_outcome = outcome(with_null.send(raw))
    assert null_outcome == outcome(left_out.send(raw))
    assert 200 <= null_outcome[0] < 300 or null_outcome[0] == 422, null_outcome


@pytest.mark.parametrize("target", REQUIRED, ids=str)
def test_a_null_required_field_is_is_required_at_its_pointer(
    raw: Raw, page: PageInfo, target: Field
) -> None:
    response = send_with(raw, page, target, null_of(target))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "validation_error"
    assert error_codes(response) == [("is_required", target.name, target.pointer)]


def component_of(response: Any) -> StatusPageComponentV2:
    """The component of an SDK create / update result (fails on an error result)."""
    assert response.status_code in (200, 201), response.content
    assert not isinstance(response.parsed, ErrorResponse), response.content
    component: StatusPageComponentV2 = response.parsed.status_page_component
    return component


# The SDK types ``description`` as ``str | Unset``, but callers pass ``None`` (it is what they
# hold for "no description"), and the SDK then sends ``"description": null``.
NO_DESCRIPTION: Any = None


def test_the_sdk_creates_a_component_with_description_none(sdk: AuthenticatedClient) -> None:
    body = StatusPageComponentsCreatePayloadV2(name="No words", description=NO_DESCRIPTION)
    assert body.to_dict() == {"name": "No words", "description": None}
    created = component_of(create_component.sync_detailed(client=sdk, body=body))
    assert created.description is UNSET


def test_the_sdk_clears_a_description_by_updating_with_none(sdk: AuthenticatedClient) -> None:
    body = StatusPageComponentsCreatePayloadV2(name="Words", description="Some")
    created = component_of(create_component.sync_detailed(client=sdk, body=body))
    change = StatusPageComponentsUpdatePayloadV2(name="Words", description=NO_DESCRIPTION)
    updated = component_of(update_component.sync_detailed(created.id, client=sdk, body=change))
    assert updated.description is UNSET


LISTS = [f for f in FIELDS if f.where == "body" and f.schema.get("type") == "array"]


@pytest.mark.parametrize("target", LISTS, ids=str)
def test_a_null_item_of_a_list_is_is_required_at_its_pointer(
    raw: Raw, page: PageInfo, target: Field
) -> None:
    request = sample(raw, page, target.operation_id)
    items = [None, *request.item_at(target, slice(1, None))]
    response = request.with_value(target, items).send(raw)
    assert response.status_code == 422, response.text
    assert error_codes(response) == [("is_required", f"{target.name}[0]", f"{target.pointer}/0")]
