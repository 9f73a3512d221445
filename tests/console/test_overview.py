"""The overview shows each page as its readers see it (the public page's own banner words),
its ongoing incidents and maintenance, upcoming windows and subscriber counts."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.console.helpers import signed_in
from tests.contract.checks import Raw
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import add_subscribers


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _banner(html: str) -> str:
    found = re.search(r'class="banner__title"[^>]*>([^<]+)<', html)
    assert found is not None
    return found.group(1).strip()


def _section(html: str, name: str) -> str:
    """The overview's section of the page called ``name``."""
    start = html.index(f">{name}</h2>")
    return html[start : html.index("</section>", start)]


@pytest.fixture
def api(server: LiveServer) -> Raw:
    return Raw(server.base_url, make_key(server))


def test_a_quiet_page_reads_as_its_public_page_does(server: LiveServer) -> None:
    page = make_page(server, components=2)
    console = signed_in(server)
    html = console.get("/admin").text
    public = console.http.get(f"/{page.slug}").text
    section = _section(html, f"Page {page.slug.split('-', 1)[1]}")
    assert _banner(public) in section
    assert "All systems operational" in section
    assert f'href="{server.base_url}/{page.slug}"' in section


def test_incidents_windows_and_subscribers_are_shown_per_page(server: LiveServer, api: Raw) -> None:
    page: PageInfo = make_page(server, components=3)
    name = page.slug.split("-", 1)[1]
    [first, second, third] = page.components.values()
    add_subscribers(server, page.id, 7)
    incident = api.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "Checkout errors",
            "incident_status": "identified",
            "message": "We found it.",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
            "component_statuses": [
                {"component_id": first, "component_status": "partial_outage"},
                {"component_id": second, "component_status": "degraded_performance"},
            ],
        },
    )
    assert incident.status_code == 201, incident.text
    incident_id = incident.json()["status_page_incident"]["id"]
    now = datetime.now(UTC) + server.clock.offset
    for label, start, end, status in (
        (
            "Database upgrade",
            now + timedelta(days=2),
            now + timedelta(days=2, hours=1),
            "maintenance_scheduled",
        ),
        (
            "Network work",
            now - timedelta(minutes=5),
            now + timedelta(hours=1),
            "maintenance_in_progress",
        ),
    ):
        window = api.post(
            "/v2/status_page_maintenances",
            json={
                "status_page_id": page.id,
                "name": label,
                "maintenance_status": status,
                "idempotency_key": uuid.uuid4().hex,
                "affected_component_ids": [third],
                "start_at": _ts(start),
                "end_at": _ts(end),
                "message": "Planned.",
                "notify_subscribers": False,
            },
        )
        assert window.status_code == 201, window.text

    console = signed_in(server)
    section = _section(console.get("/admin").text, f"Page {name}")
    public = console.http.get(f"/{page.slug}").text
    assert _banner(public) == "Partial outage"
    assert '<p class="state state--partial_outage">Partial outage</p>' in section
    assert f'href="{server.base_url}/{page.slug}/incidents/{incident_id}">Checkout errors</a>' in (
        section
    )
    assert "Identified" in section
    for label in ("Ongoing incidents", "Maintenance in progress", "Upcoming maintenance"):
        assert f"<dt>{label}</dt><dd>1</dd>" in section
    assert "<dt>E-mail subscribers</dt><dd>7</dd>" in section
    assert "Network work" in section and "Database upgrade" in section


def test_the_overview_reads_counts_with_aggregates_not_rows(server: LiveServer) -> None:
    """Subscribers and deliveries are counted in SQL: the overview's statements select no
    subscription's e-mail address."""
    from tests.harness import record_statements

    page = make_page(server, components=1)
    add_subscribers(server, page.id, 30)
    console = signed_in(server)
    console.get("/admin")  # the snapshot of each page is shared with the public site
    with record_statements(server.ctx.db.read_engine) as seen:
        assert console.get("/admin").status_code == 200
    reads = [s for s in seen if "subscriptions" in s and "notification_outbox" not in s]
    assert reads and all("count(" in s.lower() for s in reads), reads
