"""Listing a page's incidents: the SDK's pagination loop, order, cursors and page sizes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_list_status_page_incidents as list_incidents,
)
from incident_io.models import ErrorResponse
from incident_io.types import UNSET

from clarion.context import AppContext
from clarion.incidents.models import Incident
from tests.contract.checks import Raw, error_codes
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer


def create(raw: Raw, page_id: str, name: str) -> str:
    response = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page_id,
            "name": name,
            "incident_status": "investigating",
            "message": "Looking into it",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["status_page_incident"]["id"])


def set_published_at(server: LiveServer, ids: list[str], when: datetime) -> None:
    async def body(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            for incident_id in ids:
                row = await session.get(Incident, incident_id)
                assert row is not None
                row.published_at = when

    server.call(body)


def walk_pages(raw: Raw, page_id: str, page_size: int) -> tuple[list[str], int]:
    """Follow ``after`` to the end; returns (ids in order, number of requests)."""
    ids: list[str] = []
    params: dict[str, str | int] = {"status_page_id": page_id, "page_size": page_size}
    requests = 0
    while True:
        body = raw.get("/v2/status_page_incidents", params=params).json()
        requests += 1
        assert body["pagination_meta"]["page_size"] == page_size
        ids.extend(i["id"] for i in body["status_page_incidents"])
        if "after" not in body["pagination_meta"]:
            return ids, requests
        params["after"] = body["pagination_meta"]["after"]
        assert requests < 100


def test_the_sdk_pagination_loop_lists_every_incident_newest_first(
    sdk: AuthenticatedClient, raw: Raw, page: PageInfo
) -> None:
    made = [create(raw, page.id, f"Incident {n}") for n in range(7)]
    seen: list[str] = []
    after: object = UNSET
    requests = 0
    while True:  # the loop from the SDK's README
        result = list_incidents.sync(
            client=sdk,
            status_page_id=page.id,
            page_size=3,
            after=after,  # type: ignore[arg-type]
        )
        assert result is not None and not isinstance(result, ErrorResponse)
        requests += 1
        seen.extend(i.id for i in result.status_page_incidents)
        for incident in result.status_page_incidents:
            assert incident.status_page_id == page.id
            assert incident.published_at.tzinfo is not None
            assert len(incident.updates) == 1
            assert incident.component_impacts == []
        after = result.pagination_meta.after
        if after is UNSET:
            break
        assert requests < 10
    assert requests == 3
    assert seen == list(reversed(made))


def test_the_default_page_size_is_25_and_after_is_left_out_on_the_last_page(
    server: LiveServer, raw: Raw
) -> None:
    info = make_page(server, components=1)
    made = [create(raw, info.id, f"I{n}") for n in range(26)]
    first = raw.get("/v2/status_page_incidents", params={"status_page_id": info.id}).json()
    assert first["pagination_meta"] == {"page_size": 25, "after": made[1]}
    assert len(first["status_page_incidents"]) == 25
    second = raw.get(
        "/v2/status_page_incidents",
        params={"status_page_id": info.id, "after": first["pagination_meta"]["after"]},
    ).json()
    assert second["pagination_meta"] == {"page_size": 25}
    assert [i["id"] for i in second["status_page_incidents"]] == [made[0]]


def test_after_is_left_out_when_exactly_page_size_items_remain(
    server: LiveServer, raw: Raw
) -> None:
    info = make_page(server, components=1)
    for n in range(4):
        create(raw, info.id, f"I{n}")
    ids, requests = walk_pages(raw, info.id, 2)
    assert len(ids) == 4 and requests == 2
    exact = raw.get(
        "/v2/status_page_incidents", params={"status_page_id": info.id, "page_size": 4}
    ).json()
    assert exact["pagination_meta"] == {"page_size": 4}
    assert len(exact["status_page_incidents"]) == 4


def test_a_page_with_no_incidents_lists_none_without_a_cursor(server: LiveServer, raw: Raw) -> None:
    info = make_page(server, components=1)
    body = raw.get("/v2/status_page_incidents", params={"status_page_id": info.id}).json()
    assert body == {"status_page_incidents": [], "pagination_meta": {"page_size": 25}}


def test_order_is_stable_when_incidents_share_a_published_at(server: LiveServer, raw: Raw) -> None:
    info = make_page(server, components=1)
    made = [create(raw, info.id, f"Same {n}") for n in range(9)]
    same = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    set_published_at(server, made, same)
    for size in (1, 2, 4):
        ids, _ = walk_pages(raw, info.id, size)
        assert ids == sorted(made, reverse=True), f"page_size {size}"


def test_incidents_of_other_pages_are_not_listed(server: LiveServer, raw: Raw) -> None:
    one = make_page(server, components=1)
    two = make_page(server, components=1)
    mine = create(raw, one.id, "Mine")
    create(raw, two.id, "Theirs")
    ids, _ = walk_pages(raw, one.id, 25)
    assert ids == [mine]


def test_page_size_bounds_and_types_are_422_on_page_size(raw: Raw, page: PageInfo) -> None:
    for bad in ("0", "251", "-1", "ten", "2.5", ""):
        response = raw.get(
            "/v2/status_page_incidents", params={"status_page_id": page.id, "page_size": bad}
        )
        if bad == "":
            # allowEmptyValue: an empty page_size means the default.
            assert response.status_code == 200, response.text
            assert response.json()["pagination_meta"]["page_size"] == 25
            continue
        assert response.status_code == 422, (bad, response.text)
        assert error_codes(response) == [("invalid_value", "page_size", "/page_size")]
    for good in ("1", "250"):
        response = raw.get(
            "/v2/status_page_incidents", params={"status_page_id": page.id, "page_size": good}
        )
        assert response.status_code == 200
        assert response.json()["pagination_meta"]["page_size"] == int(good)


def test_an_unknown_after_cursor_is_a_422_invalid_cursor(
    server: LiveServer, raw: Raw, page: PageInfo
) -> None:
    other = make_page(server, components=1)
    foreign = create(raw, other.id, "Elsewhere")
    for cursor in ("01NOSUCHINCIDENT000000000", foreign):
        response = raw.get(
            "/v2/status_page_incidents", params={"status_page_id": page.id, "after": cursor}
        )
        assert response.status_code == 422
        assert error_codes(response) == [("invalid_cursor", "after", "/after")]


def test_status_page_id_is_required_and_must_exist(raw: Raw) -> None:
    for params in ({}, {"status_page_id": ""}):
        missing = raw.get("/v2/status_page_incidents", params=params)
        assert missing.status_code == 422
        assert error_codes(missing) == [("is_required", "status_page_id", "/status_page_id")]
    unknown = raw.get(
        "/v2/status_page_incidents", params={"status_page_id": "01NOSUCHPAGE0000000000000"}
    )
    assert unknown.status_code == 422
    assert error_codes(unknown) == [("not_found", "status_page_id", "/status_page_id")]
