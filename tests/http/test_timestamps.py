"""Timestamps: always RFC 3339 with an offset out; naive values in are taken as UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tests.contract.checks import Raw, error_codes
from tests.factories import PageInfo


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
