"""The incident list's fast read path: cursors inside runs of equal timestamps, and the page
check that only runs when the list comes back empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.contract.checks import Raw, error_codes
from tests.factories import make_page
from tests.harness import LiveServer
from tests.incidents.test_list_incidents import create, set_published_at, walk_pages


def test_cursors_continue_in_order_across_runs_of_equal_timestamps(
    server: LiveServer, raw: Raw
) -> None:
    info = make_page(server, components=1)
    base = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    expected: list[tuple[datetime, str]] = []
    for minutes, count in ((0, 3), (5, 4), (10, 3)):
        made = [create(raw, info.id, f"At {minutes} #{n}") for n in range(count)]
        set_published_at(server, made, base + timedelta(minutes=minutes))
        expected.extend((base + timedelta(minutes=minutes), i) for i in made)
    newest_first = [i for _, i in sorted(expected, reverse=True)]
    for size in (1, 2, 3, 4, 5):
        ids, requests = walk_pages(raw, info.id, size)
        assert ids == newest_first, f"page_size {size}"
        assert requests == -(-len(newest_first) // size)


def test_an_after_cursor_on_an_unknown_page_is_not_found_on_status_page_id(
    server: LiveServer, raw: Raw
) -> None:
    info = make_page(server, components=1)
    incident = create(raw, info.id, "Somewhere")
    response = raw.get(
        "/v2/status_page_incidents",
        params={"status_page_id": "01NOSUCHPAGE0000000000000", "after": incident},
    )
    assert response.status_code == 422
    assert error_codes(response) == [("not_found", "status_page_id", "/status_page_id")]


def test_a_page_whose_incidents_are_all_listed_needs_no_cursor(
    server: LiveServer, raw: Raw
) -> None:
    info = make_page(server, components=1)
    made = [create(raw, info.id, f"Only {n}") for n in range(3)]
    body = raw.get("/v2/status_page_incidents", params={"status_page_id": info.id}).json()
    assert [i["id"] for i in body["status_page_incidents"]] == sorted(made, reverse=True)
    assert body["pagination_meta"] == {"page_size": 25}
