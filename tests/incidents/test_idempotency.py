"""``idempotency_key`` on create: concurrent duplicates create one incident; replays return
the original response; a reused key with a different payload is refused."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident as create_incident,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus,
)
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from clarion.context import AppContext
from tests.contract.checks import Raw, check_response, error_codes
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server, record_statements


def payload(page: PageInfo, key: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status_page_id": page.id,
        "name": "Login failures",
        "incident_status": "investigating",
        "message": "Some users cannot log in",
        "notify_subscribers": False,
        "idempotency_key": key,
    }
    body.update(overrides)
    return body


def listed_ids(raw: Raw, page: PageInfo) -> list[str]:
    body = raw.get(
        "/v2/status_page_incidents", params={"status_page_id": page.id, "page_size": 250}
    ).json()
    return [i["id"] for i in body["status_page_incidents"]]


async def _concurrent_creates(
    base_url: str, token: str, body: dict[str, Any], count: int
) -> list[httpx.Response]:
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=count),
        timeout=60,
    ) as client:
        responses = await asyncio.gather(
            *(client.post("/v2/status_page_incidents", json=body) for _ in range(count))
        )
        for response in responses:
            await response.aread()
            check_response(response)
        return list(responses)


def test_twenty_simultaneous_creates_with_one_key_make_one_incident(
    server: LiveServer, token: str, raw: Raw, page: PageInfo
) -> None:
    body = payload(page, uuid.uuid4().hex)
    responses = asyncio.run(_concurrent_creates(server.base_url, token, body, 20))
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies)
    incident_id = bodies[0]["status_page_incident"]["id"]
    assert listed_ids(raw, page) == [incident_id]
    shown = raw.get(f"/v2/status_page_incidents/{incident_id}").json()
    assert len(shown["status_page_incident"]["updates"]) == 1


def test_a_later_replay_returns_the_original_body_even_after_changes(
    sdk: AuthenticatedClient, raw: Raw, page: PageInfo
) -> None:
    key = uuid.uuid4().hex
    sdk_body = StatusPagesCreateStatusPageIncidentPayloadV2(
        status_page_id=page.id,
        name="Login failures",
        incident_status=StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus.INVESTIGATING,
        message="Some users cannot log in",
        notify_subscribers=False,
        idempotency_key=key,
    )
    first = create_incident.sync_detailed(client=sdk, body=sdk_body)
    assert first.status_code == 201
    incident_id = first.parsed.status_page_incident.id
    raw.put(f"/v2/status_page_incidents/{incident_id}", json={"name": "Renamed since"})
    replay = create_incident.sync_detailed(client=sdk, body=sdk_body)
    assert replay.status_code == 201
    assert replay.content == first.content
    assert replay.parsed.status_page_incident.name == "Login failures"
    # The raw request the SDK makes and a hand-written one are the same request.
    again = raw.post("/v2/status_page_incidents", json=payload(page, key))
    assert again.status_code == 201
    assert again.content == first.content
    assert listed_ids(raw, page) == [incident_id]


def test_the_same_key_with_a_different_payload_is_refused(raw: Raw, page: PageInfo) -> None:
    key = uuid.uuid4().hex
    assert raw.post("/v2/status_page_incidents", json=payload(page, key)).status_code == 201
    for change in ({"name": "Something else"}, {"notify_subscribers": True}, {"message": "x"}):
        response = raw.post("/v2/status_page_incidents", json=payload(page, key, **change))
        assert response.status_code == 422, change
        assert error_codes(response) == [
            ("idempotency_key_reused", "idempotency_key", "/idempotency_key")
        ]
    assert len(listed_ids(raw, page)) == 1


def test_keys_are_shared_by_every_api_key_of_the_installation(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    key = uuid.uuid4().hex
    first = raw.post("/v2/status_page_incidents", json=payload(page, key))
    other = Raw(server.base_url, make_key(server, "status_page_publisher", name="other"))
    replay = other.post("/v2/status_page_incidents", json=payload(page, key))
    other.close()
    assert replay.status_code == 201
    assert replay.json() == first.json()


def test_keys_are_per_endpoint(raw: Raw, page: PageInfo) -> None:
    key = uuid.uuid4().hex
    live = raw.post("/v2/status_page_incidents", json=payload(page, key))
    assert live.status_code == 201
    retrospective = raw.post(
        "/v2/status_page_retrospective_incidents",
        json={
            "status_page_id": page.id,
            "name": "Yesterday's outage",
            "idempotency_key": key,
            "updates": [
                {
                    "incident_status": "resolved",
                    "message": "It was short",
                    "published_at": "2026-01-01T10:00:00Z",
                }
            ],
        },
    )
    assert retrospective.status_code == 201, retrospective.text
    assert (
        retrospective.json()["status_page_incident"]["id"]
        != live.json()["status_page_incident"]["id"]
    )


def _forbid_name(server: LiveServer, name: str) -> None:
    """A constraint the database enforces on incidents (a CHECK on PostgreSQL, a trigger that
    aborts on SQLite): an integrity error that is not the idempotency record's."""

    async def add(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            if ctx.db.is_sqlite:
                await session.execute(
                    text(
                        "CREATE TRIGGER test_forbidden_name BEFORE INSERT ON incidents "
                        f"WHEN NEW.name = '{name}' BEGIN SELECT RAISE(ABORT, 'forbidden'); END"
                    )
                )
            else:
                await session.execute(
                    text(
                        "ALTER TABLE incidents ADD CONSTRAINT ck_test_forbidden_name "
                        f"CHECK (name <> '{name}')"
                    )
                )

    server.call(add)


def test_another_integrity_error_is_a_500_logged_once_and_never_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only a violation of the idempotency record's own unique index is a lost race to
    replay; any other integrity error is a crash: logged once with its cause, the write tried
    once, and the key left free for a correct request."""
    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        page = make_page(srv, components=1)
        raw = Raw(srv.base_url, make_key(srv))
        _forbid_name(srv, "Forbidden")
        key = uuid.uuid4().hex
        caplog.set_level(logging.ERROR, logger="clarion.http")
        with record_statements(srv.ctx.db.write_engine) as seen:
            refused = raw.post(
                "/v2/status_page_incidents", json=payload(page, key, name="Forbidden")
            )
        assert refused.status_code == 500
        assert error_codes(refused) == [("api_error", None, None)]
        inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO INCIDENTS")]
        assert len(inserts) == 1, inserts
        crashes = [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
        assert len(crashes) == 1
        assert crashes[0].exc_info is not None
        cause = crashes[0].exc_info[1]
        assert isinstance(cause, IntegrityError)
        assert "forbidden" in str(cause).lower()
        accepted = raw.post("/v2/status_page_incidents", json=payload(page, key))
        assert accepted.status_code == 201, accepted.text
        raw.close()
