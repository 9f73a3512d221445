"""422 for every validation rule, with a ``code`` and ``source.field`` + ``source.pointer``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from clarion.app import openapi_document
from clarion.http.validation import RequestModel
from tests.contract.checks import Raw, error_codes
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer
from tests.http.request_samples import Field, fields, sample

REQUIRED = (
    "status_page_id",
    "name",
    "incident_status",
    "message",
    "notify_subscribers",
    "idempotency_key",
)


def valid(page: PageInfo, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status_page_id": page.id,
        "name": "Slow dashboard",
        "incident_status": "investigating",
        "message": "Looking into it",
        "notify_subscribers": False,
        "idempotency_key": uuid.uuid4().hex,
    }
    body.update(overrides)
    return body


def create(raw: Raw, body: dict[str, Any]) -> Any:
    return raw.post("/v2/status_page_incidents", json=body)


@pytest.mark.parametrize("field", REQUIRED)
def test_each_required_field_left_out_is_is_required(raw: Raw, page: PageInfo, field: str) -> None:
    body = valid(page)
    del body[field]
    response = create(raw, body)
    assert response.status_code == 422
    assert response.json()["type"] == "validation_error"
    assert error_codes(response) == [("is_required", field, f"/{field}")]


@pytest.mark.parametrize("field", REQUIRED)
def test_each_required_field_sent_as_null_is_is_required(
    raw: Raw, page: PageInfo, field: str
) -> None:
    response = create(raw, valid(page, **{field: None}))
    assert response.status_code == 422
    assert error_codes(response) == [("is_required", field, f"/{field}")]


def test_every_missing_field_is_reported_at_once(raw: Raw) -> None:
    response = raw.post("/v2/status_page_incidents", json={})
    assert response.status_code == 422
    assert sorted(error_codes(response)) == sorted(("is_required", f, f"/{f}") for f in REQUIRED)


@pytest.mark.parametrize("field", ["name", "message", "idempotency_key", "status_page_id"])
def test_blank_strings_are_is_required(raw: Raw, page: PageInfo, field: str) -> None:
    for blank in ("", "   ", "\n\t"):
        response = create(raw, valid(page, **{field: blank}))
        assert response.status_code == 422, (field, blank)
        assert error_codes(response) == [("is_required", field, f"/{field}")]


def test_name_and_message_lengths_are_200_and_4096(raw: Raw, page: PageInfo) -> None:
    assert create(raw, valid(page, name="n" * 200, message="m" * 4096)).status_code == 201
    long_name = create(raw, valid(page, name="n" * 201))
    assert error_codes(long_name) == [("too_long", "name", "/name")]
    long_message = create(raw, valid(page, message="m" * 4097))
    assert error_codes(long_message) == [("too_long", "message", "/message")]
    # Lengths count characters, not bytes.
    assert create(raw, valid(page, name="é" * 200)).status_code == 201


def test_enums_are_checked(raw: Raw, page: PageInfo) -> None:
    a = next(iter(page.components.values()))
    for value in ("paused", "RESOLVED", "", 3):
        response = create(raw, valid(page, incident_status=value))
        assert response.status_code == 422, value
        assert error_codes(response) == [("invalid_value", "incident_status", "/incident_status")]
    response = create(
        raw,
        valid(page, component_statuses=[{"component_id": a, "component_status": "on_fire"}]),
    )
    assert error_codes(response) == [
        (
            "invalid_value",
            "component_statuses[0].component_status",
            "/component_statuses/0/component_status",
        )
    ]


def test_wrong_json_types_are_invalid_type(raw: Raw, page: PageInfo) -> None:
    for field, value in (("notify_subscribers", "maybe"), ("name", 12), ("message", ["m"])):
        response = create(raw, valid(page, **{field: value}))
        assert response.status_code == 422, (field, response.text)
        assert error_codes(response) == [("invalid_type", field, f"/{field}")]
    listy = create(raw, valid(page, component_statuses={"component_id": "x"}))
    assert error_codes(listy) == [("invalid_type", "component_statuses", "/component_statuses")]


def test_a_component_status_entry_needs_both_keys(raw: Raw, page: PageInfo) -> None:
    response = create(raw, valid(page, component_statuses=[{}]))
    assert sorted(error_codes(response)) == [
        (
            "is_required",
            "component_statuses[0].component_id",
            "/component_statuses/0/component_id",
        ),
        (
            "is_required",
            "component_statuses[0].component_status",
            "/component_statuses/0/component_status",
        ),
    ]


def test_an_unknown_status_page_is_422_not_found_on_status_page_id(raw: Raw) -> None:
    response = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": "01NOSUCHPAGE0000000000000",
            "name": "n",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert response.status_code == 422
    assert error_codes(response) == [("not_found", "status_page_id", "/status_page_id")]


def test_components_must_be_on_the_page_and_listed_once(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    other = make_page(server, components=1)
    foreign = next(iter(other.components.values()))
    a, b = list(page.components.values())[:2]
    response = create(
        raw,
        valid(
            page,
            component_statuses=[
                {"component_id": a, "component_status": "full_outage"},
                {"component_id": foreign, "component_status": "full_outage"},
                {"component_id": "nope", "component_status": "full_outage"},
                {"component_id": a, "component_status": "partial_outage"},
                {"component_id": b, "component_status": "partial_outage"},
            ],
        ),
    )
    assert response.status_code == 422
    assert error_codes(response) == [
        (
            "not_found",
            "component_statuses[1].component_id",
            "/component_statuses/1/component_id",
        ),
        (
            "not_found",
            "component_statuses[2].component_id",
            "/component_statuses/2/component_id",
        ),
        (
            "invalid_value",
            "component_statuses[3].component_id",
            "/component_statuses/3/component_id",
        ),
    ]


def test_components_inside_groups_and_sub_pages_count_as_on_the_page(
    raw: Raw, page: PageInfo
) -> None:
    statuses = [
        {"component_id": c, "component_status": "degraded_performance"}
        for c in page.components.values()
    ]
    response = create(raw, valid(page, component_statuses=statuses))
    assert response.status_code == 201
    assert len(response.json()["status_page_incident"]["component_impacts"]) == len(statuses)


def test_creating_resolved_with_affected_components_is_not_allowed(
    raw: Raw, page: PageInfo
) -> None:
    a = next(iter(page.components.values()))
    response = create(
        raw,
        valid(
            page,
            incident_status="resolved",
            component_statuses=[{"component_id": a, "component_status": "full_outage"}],
        ),
    )
    assert response.status_code == 422
    assert error_codes(response) == [("not_allowed", "component_statuses", "/component_statuses")]


def test_a_refused_create_leaves_nothing_behind_and_frees_its_idempotency_key(
    raw: Raw, page: PageInfo
) -> None:
    key = uuid.uuid4().hex
    refused = create(
        raw,
        valid(
            page,
            idempotency_key=key,
            component_statuses=[{"component_id": "nope", "component_status": "full_outage"}],
        ),
    )
    assert refused.status_code == 422
    listed = raw.get("/v2/status_page_incidents", params={"status_page_id": page.id}).json()
    assert listed["status_page_incidents"] == []
    assert create(raw, valid(page, idempotency_key=key)).status_code == 201


def test_an_idempotency_key_longer_than_255_is_too_long(raw: Raw, page: PageInfo) -> None:
    assert create(raw, valid(page, idempotency_key="k" * 255)).status_code == 201
    response = create(raw, valid(page, idempotency_key="k" * 256))
    assert error_codes(response) == [("too_long", "idempotency_key", "/idempotency_key")]


def request_models(base: type[RequestModel] = RequestModel) -> Iterator[type[RequestModel]]:
    for model in base.__subclasses__():
        yield model
        yield from request_models(model)


def test_none_never_crashes_the_type_of_an_optional_request_field() -> None:
    """``RequestModel`` drops the null before validation; the declared types must not crash on
    one either. A limit set on ``X | None`` rather than on ``X`` reaches a ``None``, and
    pydantic's length check raises TypeError (a 500) there instead of a validation error."""
    openapi_document()  # builds the app, which imports every module with a request model
    models = list(request_models())
    assert len(models) >= 12
    for model in models:
        for name, info in model.model_fields.items():
            if not info.is_required():
                declared: TypeAdapter[Any] = TypeAdapter(info.rebuild_annotation())
                try:
                    declared.validate_python(None)
                except ValidationError:
                    pass  # refused cleanly, as ``bool`` refuses it
                except Exception as error:
                    raise AssertionError(f"{model.__name__}.{name}: {error!r}") from error


def test_array_limits_in_the_openapi_document_count_items() -> None:
    def arrays(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "array":
                yield node
            for child in node.values():
                yield from arrays(child)
        elif isinstance(node, list):
            for child in node:
                yield from arrays(child)

    found = list(arrays(openapi_document()))
    assert found
    for array in found:
        assert not {"maxLength", "minLength"} & set(array), array


LIMITED_LISTS = [f for f in fields() if f.where == "body" and "maxItems" in f.schema]


@pytest.mark.parametrize("target", LIMITED_LISTS, ids=str)
def test_a_list_one_item_over_its_documented_limit_is_too_long(
    raw: Raw, page: PageInfo, target: Field
) -> None:
    request = sample(raw, page, target.operation_id)
    first = request.item_at(target, 0)
    too_many = [first] * (target.schema["maxItems"] + 1)
    response = request.with_value(target, too_many).send(raw)
    assert response.status_code == 422, response.text
    assert error_codes(response) == [("too_long", target.name, target.pointer)]
