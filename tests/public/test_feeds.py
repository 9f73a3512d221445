"""Atom, RSS and iCalendar feeds: they parse cleanly, carry the right entries, and keep hostile
Markdown out of the feed markup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree as ET

import feedparser
import httpx
import icalendar
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_delete_status_page_maintenance as delete_maintenance,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_maintenance as update_maintenance,
)
from incident_io.models import StatusPagesUpdateStatusPageMaintenancePayloadV2

from tests.harness import LiveServer
from tests.public.test_statuspage_json import (
    Scenario,
    make_structured_page,
    open_incident,
    populate,
    post_incident_update,
    schedule_maintenance,
)

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = (
    "Fixed <script>alert('x')</script> and <img src=x onerror=alert(1)> "
    '[click](javascript:alert(1)) <a href="javascript:alert(2)">raw</a> '
    "<iframe src=https://evil.example></iframe> **bold** [docs](https://example.com/docs)"
)


def fetch(s: Scenario, path: str) -> httpx.Response:
    response = httpx.get(s.url(path), timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response


@pytest.fixture(scope="module")
def scenario(server: LiveServer) -> Scenario:
    from tests.factories import make_key

    built = make_structured_page(server)
    with AuthenticatedClient(
        base_url=server.base_url, token=make_key(server), raise_on_unexpected_status=True
    ) as sdk:
        populate(sdk, built)
    return built


def test_the_atom_feed_parses_cleanly_with_one_entry_per_incident_and_window(
    scenario: Scenario,
) -> None:
    response = fetch(scenario, "feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert response.headers["access-control-allow-origin"] == "*"
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    links = [e.link for e in feed.entries]
    expected = {scenario.url(f"incidents/{i}") for i in scenario.incidents.values()} | {
        scenario.url(f"maintenance/{m}") for m in scenario.maintenances.values()
    }
    assert set(links) == expected
    assert len(links) == len(expected)
    updated = [e.updated_parsed for e in feed.entries]
    assert updated == sorted(updated, reverse=True)
    ongoing = next(e for e in feed.entries if e.link.endswith(scenario.incidents["ongoing"]))
    assert ongoing.title == "EU errors"
    assert ongoing.tags[0].term == "incident"
    body = ongoing.content[0].value
    # Every update, newest first, with the component statuses it set.
    assert body.index("Identified") < body.index("Investigating")
    assert "EU: Partial outage" in body and "US: Degraded performance" in body
    assert ongoing.summary.startswith("Identified")
    window = next(e for e in feed.entries if e.link.endswith(scenario.maintenances["scheduled"]))
    assert window.tags[0].term == "maintenance"
    assert "Scheduled:" in window.content[0].value


def test_the_rss_feed_parses_cleanly_and_carries_the_same_entries(scenario: Scenario) -> None:
    response = fetch(scenario, "feed.rss")
    assert response.headers["content-type"].startswith("application/rss+xml")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "rss20"
    atom = feedparser.parse(fetch(scenario, "feed.atom").content)
    assert [e.link for e in feed.entries] == [e.link for e in atom.entries]
    assert [e.id for e in feed.entries] == [e.link for e in feed.entries]
    assert feed.feed.link == scenario.url("").rstrip("/")
    assert all(e.published_parsed for e in feed.entries)


def test_a_new_update_moves_its_incident_to_the_top_of_the_feed(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    first = open_incident(sdk, s, "First", {"api": "degraded_performance"})
    open_incident(sdk, s, "Second", {"web": "degraded_performance"})
    server.clock.offset += timedelta(seconds=5)
    try:
        post_incident_update(sdk, s, first, "monitoring", {"api": "operational"}, "Watching")
    finally:
        server.clock.offset -= timedelta(seconds=5)
    feed = feedparser.parse(fetch(s, "feed.atom").content)
    assert [e.title for e in feed.entries] == ["First", "Second"]
    assert len(feed.entries[0].content[0].value.split("<time")) == 3  # two updates


def _html_elements(text: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element a browser would build from ``text``, with its attributes."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    collector = Collector()
    collector.feed(text)
    collector.close()
    return found


def _content_texts(raw: bytes) -> list[str]:
    """The HTML inside each entry, as a feed reader gets it after XML parsing."""
    root = ET.fromstring(raw)
    if root.tag == f"{ATOM}feed":
        return [c.text or "" for c in root.iter(f"{ATOM}content")]
    return [d.text or "" for d in root.iter("description")]


@pytest.mark.parametrize("path", ["feed.atom", "feed.rss"])
def test_hostile_markdown_never_reaches_a_feed_unescaped(
    server: LiveServer, sdk: AuthenticatedClient, path: str
) -> None:
    s = make_structured_page(server)
    open_incident(sdk, s, "<b>Title</b> & co", {"api": "partial_outage"}, message=HOSTILE)
    raw = fetch(s, path).content
    # The feed's own markup holds no element from the message.
    root = ET.fromstring(raw)
    tags = {element.tag.split("}")[-1] for element in root.iter()}
    assert not tags & {"script", "img", "iframe", "a", "b", "strong"}
    html = "\n".join(_content_texts(raw))
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.com/docs"' in html
    elements = _html_elements(html)
    assert {tag for tag, _ in elements} <= {"p", "strong", "a", "ul", "li", "time"}
    for _tag, attrs in elements:
        for name, value in attrs:
            assert not name.startswith("on"), name
            assert not (value or "").strip().lower().startswith("javascript:"), value
    assert [v for t, a in elements if t == "a" for n, v in a if n == "href"] == [
        "https://example.com/docs"
    ]
    feed = feedparser.parse(raw)
    assert feed.bozo == 0
    assert feed.entries[0].title == "<b>Title</b> & co"


def _calendar(s: Scenario) -> icalendar.Calendar:
    response = fetch(s, "maintenance.ics")
    assert response.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.content)


def _events(calendar: icalendar.Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def test_the_calendar_has_one_event_per_window_with_stable_uids(scenario: Scenario) -> None:
    calendar = _calendar(scenario)
    assert str(calendar["VERSION"]) == "2.0"
    assert "PRODID" in calendar
    events = _events(calendar)
    assert len(events) == 3
    by_window = {uid.split("@")[0]: event for uid, event in events.items()}
    assert set(by_window) == set(scenario.maintenances.values())
    scheduled = by_window[scenario.maintenances["scheduled"]]
    assert str(scheduled["SUMMARY"]) == "Database upgrade"
    assert scheduled["DTSTART"].dt.tzinfo is not None
    assert scheduled["DTEND"].dt - scheduled["DTSTART"].dt == timedelta(hours=2)
    assert "DTSTAMP" in scheduled and "LAST-MODIFIED" in scheduled
    assert str(scheduled["STATUS"]) == "CONFIRMED"
    assert "Database" in str(scheduled["DESCRIPTION"])
    assert str(scheduled["URL"]) == scenario.url(
        f"maintenance/{scenario.maintenances['scheduled']}"
    )
    # Reading it again gives the same UIDs (subscriptions update events, not duplicate them).
    assert set(_events(_calendar(scenario))) == set(events)


def test_a_rescheduled_window_keeps_its_uid_and_a_deleted_one_leaves_the_calendar(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    window = schedule_maintenance(sdk, s, "Upgrade", ["db"], start, start + timedelta(hours=1))
    other = schedule_maintenance(sdk, s, "Other", ["web"], start, start + timedelta(hours=1))
    before = _events(_calendar(s))
    uid = next(u for u in before if u.startswith(window))
    server.clock.offset += timedelta(seconds=30)
    try:
        moved = start + timedelta(days=1)
        response = update_maintenance.sync_detailed(
            window,
            client=sdk,
            body=StatusPagesUpdateStatusPageMaintenancePayloadV2(
                name="Upgrade (moved)", start_at=moved, end_at=moved + timedelta(hours=3)
            ),
        )
        assert response.status_code == 200
    finally:
        server.clock.offset -= timedelta(seconds=30)
    after = _events(_calendar(s))
    assert set(after) == set(before)
    old, new = before[uid], after[uid]
    assert new["DTSTART"].dt == moved
    assert str(new["SUMMARY"]) == "Upgrade (moved)"
    assert int(new["SEQUENCE"]) > int(old["SEQUENCE"])
    assert new["LAST-MODIFIED"].dt > old["LAST-MODIFIED"].dt
    assert delete_maintenance.sync_detailed(other, client=sdk).status_code == 204
    assert [u.split("@")[0] for u in _events(_calendar(s))] == [window]


def test_an_empty_page_still_serves_valid_feeds(server: LiveServer) -> None:
    s = make_structured_page(server)
    for path in ("feed.atom", "feed.rss"):
        feed = feedparser.parse(fetch(s, path).content)
        assert feed.bozo == 0 and feed.entries == []
    assert list(_calendar(s).walk("VEVENT")) == []


def test_feed_titles_and_ids_are_unique_per_page(server: LiveServer) -> None:
    one, two = make_structured_page(server), make_structured_page(server)
    ids = {feedparser.parse(fetch(s, "feed.atom").content).feed.id for s in (one, two)}
    assert len(ids) == 2


def test_statuspage_feed_names_serve_the_same_feeds(scenario: Scenario) -> None:
    for ours, theirs in (("feed.atom", "history.atom"), ("feed.rss", "history.rss")):
        assert fetch(scenario, theirs).content == fetch(scenario, ours).content
