"""The SVG status badge: valid, accessible, honest about the page's state, safe with any name."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import httpx
from incident_io import AuthenticatedClient

from clarion.public.badge import STYLES, render_svg, text_width
from tests.factories import declare
from tests.harness import LiveServer
from tests.public.test_statuspage_json import (
    make_structured_page,
    open_incident,
    post_incident_update,
    schedule_maintenance,
)

SVG = "{http://www.w3.org/2000/svg}"


def _badge(server: LiveServer, slug: str) -> tuple[httpx.Response, ET.Element]:
    response = httpx.get(f"{server.base_url}/{slug}/badge.svg", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    return response, ET.fromstring(response.content)


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_the_badge_says_operational_in_words_and_names_the_page(
    server: LiveServer,
) -> None:
    s = make_structured_page(server)
    response, root = _badge(server, s.slug)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "status: operational"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert title.text.endswith(": All Systems Operational")
    assert _texts(root) == ["status", "operational"]
    assert STYLES["none"][1] in response.text
    assert "etag" in response.headers
    assert response.headers["access-control-allow-origin"] == "*"


def test_the_badge_follows_incidents_and_maintenance(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    s = make_structured_page(server)
    incident = open_incident(sdk, s, "Down", {"api": "full_outage"})
    response, root = _badge(server, s.slug)
    assert _texts(root)[1] == "major outage"
    assert STYLES["critical"][1] in response.text
    post_incident_update(sdk, s, incident, "resolved", {})
    now = datetime.now(UTC)
    schedule_maintenance(
        sdk, s, "Resize", ["db"], now - timedelta(minutes=1), now + timedelta(hours=1),
        status="maintenance_in_progress",
    )  # fmt: skip
    _, root = _badge(server, s.slug)
    assert _texts(root)[1] == "maintenance"


def test_a_hostile_page_name_is_escaped_in_the_badge(server: LiveServer) -> None:
    slug = f"badge-{uuid.uuid4().hex[:8]}"
    name = '</title><script>alert(1)</script> "Acme" & Co'
    declare(server, {"status_pages": [{"slug": slug, "name": name, "items": []}]})
    response, root = _badge(server, slug)
    assert "<script" not in response.text
    assert [e.tag for e in root.iter() if e.tag.endswith("script")] == []
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == f"{name}: All Systems Operational"


def test_wider_words_make_a_wider_badge() -> None:
    narrow = ET.fromstring(render_svg("Page", "none"))
    wide = ET.fromstring(render_svg("Page", "major"))
    assert int(wide.get("width", "0")) > int(narrow.get("width", "0"))
    assert text_width("partial outage") > text_width("operational")
