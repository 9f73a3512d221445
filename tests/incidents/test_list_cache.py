"""The incident list's response cache: bytes are reused only while the page's content version
stands still, and every kind of write (through this server or through another process's
database connection) shows on the very next list."""

from __future__ import annotations

from typing import Any

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as create_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_incident as rename_incident,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2 as UpdatePayload,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus as UpdateStatus,
)
from incident_io.models import StatusPagesUpdateStatusPageIncidentPayloadV2 as RenamePayload
from sqlalchemy import select

from clarion.context import AppContext
from clarion.db.engine import Database
from clarion.http.list_cache import ListCache
from clarion.incidents import service
from clarion.status_pages.models import StatusPage
from tests.contract.checks import Raw
from tests.factories import OPERATOR, PageInfo
from tests.harness import LiveServer
from tests.incidents.test_list_incidents import create


def _list(raw: Raw, page_id: str, **params: Any) -> dict[str, Any]:
    response = raw.get("/v2/status_page_incidents", params={"status_page_id": page_id, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _version(server: LiveServer, page_id: str) -> int:
    async def body(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            value = await session.scalar(
                select(StatusPage.content_version).where(StatusPage.id == page_id)
            )
        assert value is not None
        return int(value)

    return server.call(body)


def test_a_repeated_list_is_served_from_bytes_stored_at_the_current_version(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    create(raw, page.id, "Cached")
    first = raw.get("/v2/status_page_incidents", params={"status_page_id": page.id})
    second = raw.get("/v2/status_page_incidents", params={"status_page_id": page.id})
    assert first.content == second.content
    cache = server.ctx.list_cache
    stored = [
        (key, version)
        for key, (version, body) in cache.items()
        if key[1] == page.id and body == first.content
    ]
    assert stored, "the list was not stored"
    assert {version for _, version in stored} == {_version(server, page.id)}
    # A different page size is a different entry, never the stored bytes.
    assert _list(raw, page.id, page_size=1)["pagination_meta"]["page_size"] == 1


def test_every_write_through_the_api_shows_on_the_next_list(
    sdk: AuthenticatedClient, raw: Raw, page: PageInfo
) -> None:
    incident = create(raw, page.id, "Before")
    assert _list(raw, page.id)["status_page_incidents"][0]["name"] == "Before"

    rename_incident.sync(incident, client=sdk, body=RenamePayload(name="After"))
    listed = _list(raw, page.id)["status_page_incidents"]
    assert listed[0]["name"] == "After"

    create_update.sync(
        client=sdk,
        body=UpdatePayload(
            status_page_incident_id=incident,
            message="Fixed",
            incident_status=UpdateStatus.RESOLVED,
            notify_subscribers=False,
        ),
    )
    listed = _list(raw, page.id)["status_page_incidents"]
    assert listed[0]["incident_status"] == "resolved"
    assert listed[0]["updates"][0]["message"] == "Fixed"

    newer = create(raw, page.id, "Newer")
    assert [i["id"] for i in _list(raw, page.id)["status_page_incidents"]] == [newer, incident]


def test_a_write_by_another_process_shows_on_the_next_list(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    create(raw, page.id, "Seen first")
    _list(raw, page.id)
    _list(raw, page.id)  # stored and served

    async def elsewhere(ctx: AppContext) -> str:
        # A second Database on the same URL: its own engines and connections, as another
        # replica or ``clarion`` process would have; it knows nothing of this server's cache.
        other = Database(ctx.db.url)
        try:
            async with other.write() as session:
                view = await service.create_incident(
                    session,
                    ctx.events,
                    actor=OPERATOR,
                    page_id=page.id,
                    name="Written elsewhere",
                    incident_status="investigating",
                    message="From another process",
                    notify_subscribers=False,
                    component_statuses=[],
                    now=ctx.clock.now(),
                )
            return view.incident.id
        finally:
            await other.dispose()

    written = server.call(elsewhere)
    assert _list(raw, page.id)["status_page_incidents"][0]["id"] == written


def test_an_unknown_page_is_answered_and_never_stored(server: LiveServer, raw: Raw) -> None:
    before = len(server.ctx.list_cache)
    for _ in range(2):
        response = raw.get(
            "/v2/status_page_incidents", params={"status_page_id": "01NOSUCHPAGE0000000000000"}
        )
        assert response.status_code in (200, 422), response.text
    assert len(server.ctx.list_cache) == before


def test_the_cache_keeps_its_most_recently_used_entries_within_its_bound() -> None:
    cache = ListCache(max_entries=2)
    cache.put("a", 1, b"A")
    cache.put("b", 1, b"B")
    assert cache.get("a", 1) == b"A"  # "a" is now the most recently used
    cache.put("c", 1, b"C")
    assert cache.get("b", 1) is None
    assert cache.get("a", 1) == b"A"
    assert cache.get("c", 1) == b"C"
    assert cache.get("c", 2) is None  # another version is a miss
    assert len(cache) == 2
    off = ListCache(max_entries=0)
    off.put("a", 1, b"A")
    assert off.get("a", 1) is None


def test_the_cache_holds_at_most_its_budget_of_bytes() -> None:
    cache = ListCache(max_entries=100, max_bytes=50_000)
    for n in range(20):
        cache.put(("list", n), 1, b"x" * 10_000)
    assert cache.held_bytes <= 50_000
    assert len(cache) == 4
    assert cache.get(("list", 19), 1) == b"x" * 10_000
    assert cache.get(("list", 0), 1) is None
    cache.put(("list", "huge"), 1, b"x" * 60_000)  # larger than the whole budget: not kept
    assert cache.get(("list", "huge"), 1) is None
    assert cache.get(("list", 19), 1) is not None
