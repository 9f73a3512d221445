"""Timestamps: always RFC 3339 with an offset out; naive values in are taken as UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from incident_io import AuthenticatedClient

from tests.contract.checks import Raw, error_codes
from tests.factories import PageInfo
from tests.http.request_samples import Field, fields, send_with

#: Every timestamp a request can carry, in a body or a query (from the OpenAPI document).
TIMESTAMPS = [f for f in fields() if f.is_timestamp]
#: Valid RFC 3339, but the offset moves the moment out of years 1..9999 in UTC.
OUT_OF_RANGE = ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00")
#: The first and the last moment a timestamp may name.
EDGES = ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z")


def retrospective(raw: Raw, page: PageInfo, published_at: Any) -> Any:
    return raw.post(
        "/v2/status_page_retrospective_incidents",
        json={
            "status_page_id": page.id,
            "name": "Past outage",
            "idempotency_key": uuid.uuid4().hex,
            "updates": [
                {"incident_status": "resolved", "message": "Done", "published_at": published_at}
            ],
        },
    )


def test_request_timestamps_in_every_sdk_format_are_read_as_utc(raw: Raw, page: PageInfo) -> None:
    cases = {
        "2026-01-01T10:00:00": "2026-01-01T10:00:00.000000Z",  # naive: the SDK's own format
        "2026-01-01T10:00:00+00:00": "2026-01-01T10:00:00.000000Z",
        "2026-01-01T10:00:00Z": "2026-01-01T10:00:00.000000Z",
        "2026-01-01T12:00:00+02:00": "2026-01-01T10:00:00.000000Z",
        "2026-01-01T10:00:00.123456789Z": "2026-01-01T10:00:00.123456Z",
        "2026-01-01T10:00:00.5Z": "2026-01-01T10:00:00.500000Z",
    }
    for sent, expected in cases.items():
        response = retrospective(raw, page, sent)
        assert response.status_code == 201, (sent, response.text)
        incident = response.json()["status_page_incident"]
        assert incident["published_at"] == expected, sent
        assert incident["updates"][0]["published_at"] == expected, sent


def test_something_that_is_not_a_timestamp_is_invalid_value(raw: Raw, page: PageInfo) -> None:
    for bad in ("yesterday", "2026-01-01", "2026-13-01T10:00:00Z", 1767261600, ""):
        response = retrospective(raw, page, bad)
        assert response.status_code == 422, bad
        (code, field, pointer) = error_codes(response)[0]
        assert field == "updates[0].published_at" and pointer == "/updates/0/published_at"
        assert code in ("invalid_value", "is_required"), (bad, code)


def test_response_timestamps_are_utc_with_z_and_microseconds(raw: Raw, page: PageInfo) -> None:
    before = datetime.now(UTC)
    response = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "n",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    published = response.json()["status_page_incident"]["published_at"]
    assert published.endswith("Z") and len(published) == len("2021-08-17T13:28:57.801578Z")
    assert abs((datetime.fromisoformat(published) - before).total_seconds()) < 60


def test_list_filters_accept_naive_and_percent_encoded_offsets(raw: Raw, page: PageInfo) -> None:
    for value in ("2020-01-01T00:00:00", "2020-01-01T00:00:00+00:00", "2020-01-01T00:00:00Z"):
        response = raw.get(
            "/v2/status_page_incidents", params={"status_page_id": page.id, "start_at": value}
        )
        assert response.status_code == 200, (value, response.text)
    bad = raw.get(
        "/v2/status_page_incidents", params={"status_page_id": page.id, "start_at": "soon"}
    )
    assert bad.status_code == 422
    assert error_codes(bad) == [("invalid_value", "start_at", "/start_at")]


def test_the_timestamp_inputs_are_found_in_the_document() -> None:
    found = {(f.operation_id, f.where, f.pointer) for f in TIMESTAMPS}
    assert found >= {
        ("StatusPagesV2_CreateStatusPageRetrospectiveIncident", "body", "/updates/0/published_at"),
        ("StatusPagesV2_CreateStatusPageMaintenance", "body", "/start_at"),
        ("StatusPagesV2_UpdateStatusPageMaintenance", "body", "/end_at"),
        ("StatusPagesV2_ListStatusPageIncidents", "query", "/start_at"),
        ("StatusPagesV2_ListStatusPageMaintenances", "query", "/end_at"),
        ("StatusPagesV2_ShowStatusPageComponentAvailability", "query", "/start_at"),
    }


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("target", TIMESTAMPS, ids=str)
def test_a_timestamp_outside_years_1_to_9999_in_utc_is_invalid_value_at_its_pointer(
    raw: Raw, page: PageInfo, target: Field, value: str
) -> None:
    response = send_with(raw, page, target, value)
    assert response.status_code == 422, response.text
    assert error_codes(response) == [("invalid_value", target.name, target.pointer)]


@pytest.mark.parametrize("value", EDGES)
@pytest.mark.parametrize("target", TIMESTAMPS, ids=str)
def test_the_first_and_last_moments_of_the_calendar_are_never_a_server_error(
    raw: Raw, page: PageInfo, target: Field, value: str
) -> None:
    response = send_with(raw, page, target, value)
    assert response.status_code < 500, response.text


#: Moments a body may not set: before 1970 or from 2100 on, in UTC.
OUTSIDE_THE_RANGE = (
    "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:30:00+01:00",
    "2100-01-01T00:00:00Z",
    "2099-12-31T23:30:00-01:00",
    "0001-01-01T00:00:00Z",
)


@pytest.mark.parametrize("value", OUTSIDE_THE_RANGE)
@pytest.mark.parametrize("target", [t for t in TIMESTAMPS if t.where == "body"], ids=str)
def test_a_body_timestamp_outside_1970_to_2099_is_invalid_value_at_its_pointer(
    raw: Raw, page: PageInfo, target: Field, value: str
) -> None:
    response = send_with(raw, page, target, value)
    assert response.status_code == 422, response.text
    assert error_codes(response) == [("invalid_value", target.name, target.pointer)]
    assert "from 1970-01-01 to the end of 2099" in response.text


def test_the_edges_of_the_range_are_accepted(raw: Raw, page: PageInfo) -> None:
    assert retrospective(raw, page, "1970-01-01T00:00:00Z").status_code == 201
    [end_at] = [
        t
        for t in TIMESTAMPS
        if t.operation_id == "StatusPagesV2_CreateStatusPageMaintenance" and t.name == "end_at"
    ]
    response = send_with(raw, page, end_at, "2099-12-31T23:59:59.999999Z")
    assert response.status_code == 201, response.text


def test_a_query_timestamp_in_year_1_goes_out_with_four_digits(
    raw: Raw, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    component_id = next(iter(page.components.values()))
    response = raw.get(
        f"/v2/status_pages/{page.id}/components/{component_id}/availability",
        params={"start_at": "0001-01-01T00:00:00Z", "end_at": "0001-12-31T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    assert '"0001-01-01T00:00:00' in response.text
    assert '"1-01-01' not in response.text
