"""The official SDK parses every error Clarion sends into its ``ErrorResponse`` model (it raises
``KeyError`` on a missing required key, so these tests fail on any incomplete body)."""

from __future__ import annotations

import asyncio
import uuid

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident as create_incident,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_list_status_pages as list_pages,
)
from incident_io.api.utilities_v1 import utilities_v1_identity as identity
from incident_io.models import (
    ErrorResponse,
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus,
)

from tests.contract.checks import SDK_HTTPX_ARGS
from tests.factories import PageInfo, make_key
from tests.harness import LiveServer


def _client(server: LiveServer, token: str) -> AuthenticatedClient:
    return AuthenticatedClient(base_url=server.base_url, token=token, httpx_args=SDK_HTTPX_ARGS)


def test_the_sdk_parses_401_403_and_422_bodies(server: LiveServer, page: PageInfo) -> None:
    with _client(server, "clarion_nope") as bad:
        unauthenticated = identity.sync_detailed(client=bad)
    assert unauthenticated.status_code == 401
    assert isinstance(unauthenticated.parsed, ErrorResponse)
    assert unauthenticated.parsed.type_ == "authentication_error"
    assert unauthenticated.parsed.errors[0].code == "access_token_invalid"

    body = StatusPagesCreateStatusPageIncidentPayloadV2(
        status_page_id=page.id,
        name="x" * 201,
        incident_status=StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus.INVESTIGATING,
        message="m",
        notify_subscribers=False,
        idempotency_key=uuid.uuid4().hex,
    )
    with _client(server, make_key(server, "viewer")) as viewer:
        forbidden = create_incident.sync_detailed(client=viewer, body=body)
    assert forbidden.status_code == 403
    assert isinstance(forbidden.parsed, ErrorResponse)
    assert forbidden.parsed.type_ == "resource_forbidden"

    with _client(server, make_key(server)) as publisher:
        invalid = create_incident.sync_detailed(client=publisher, body=body)
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, ErrorResponse)
    (error,) = invalid.parsed.errors
    assert error.code == "too_long"
    assert (error.source.field, error.source.pointer) == ("name", "/name")
    assert invalid.parsed.request_id == invalid.headers["x-request-id"]


def test_the_async_sdk_works_and_parses_an_invalid_cursor(server: LiveServer) -> None:
    async def main() -> tuple[object, object]:
        async with _client(server, make_key(server)) as client:
            ok = await list_pages.asyncio_detailed(client=client, page_size=1)
            bad = await list_pages.asyncio_detailed(
                client=client, after="01NOSUCHPAGE0000000000000"
            )
            return ok, bad

    ok, bad = asyncio.run(main())
    assert ok.status_code == 200  # type: ignore[attr-defined]
    assert ok.parsed.pagination_meta.page_size == 1  # type: ignore[attr-defined]
    assert bad.status_code == 422  # type: ignore[attr-defined]
    parsed = bad.parsed  # type: ignore[attr-defined]
    assert isinstance(parsed, ErrorResponse)
    assert parsed.errors[0].code == "invalid_cursor"
    assert parsed.errors[0].source.field == "after"
