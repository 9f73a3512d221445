"""Reading a receiver's ``Retry-After``, and the exact bytes that are signed and sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from clarion.notifications.webhooks import encode_body, parse_retry_after

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 30 ", 30.0),
        (format_datetime(NOW + timedelta(minutes=5), usegmt=True), 300.0),
        ("21600", 21600.0),
    ],
)
def test_sane_retry_after_values_are_read(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "soon",
        "-5",
        "1.5",
        "²",
        "21601",
        "99999999999",
        format_datetime(NOW - timedelta(minutes=5), usegmt=True),
        format_datetime(NOW + timedelta(days=2), usegmt=True),
    ],
)
def test_missing_malformed_past_or_excessive_values_are_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_the_body_is_compact_utf8_json() -> None:
    body = encode_body({"type": "incident.created", "data": {"message": "café ☕"}})
    assert body == '{"type":"incident.created","data":{"message":"café ☕"}}'.encode()
    assert json.loads(body)["data"]["message"] == "café ☕"
