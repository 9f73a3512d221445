"""The public status page over real HTTP: what it shows, where, and how it links."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident as create_incident,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as create_update,
)
from incident_io.models import (
    StatusPageIncidentAffectedComponentV2,
    StatusPageIncidentAffectedComponentV2ComponentStatus,
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus,
)

from tests.factories import OPERATOR, PageInfo, declare
from tests.harness import LiveServer
from tests.public.test_markdown import assert_harmless


def publish(
    sdk: AuthenticatedClient,
    page_id: str,
    name: str,
    message: str,
    statuses: dict[str, str],
    status: str = "investigating",
) -> str:
    """Publish an incident through the SDK; returns its id."""
    response = create_incident.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentPayloadV2(
            status_page_id=page_id,
            name=name,
            incident_status=StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus(status),
            message=message,
            notify_subscribers=False,
            idempotency_key=str(uuid.uuid4()),
            component_statuses=[
                StatusPageIncidentAffectedComponentV2(
                    component_id=cid,
                    component_status=StatusPageIncidentAffectedComponentV2ComponentStatus(s),
                )
                for cid, s in statuses.items()
            ],
        ),
    )
    assert response.status_code == 201, response.content
    return str(response.parsed.status_page_incident.id)


def post_update(
    sdk: AuthenticatedClient, incident_id: str, message: str, status: str = "resolved"
) -> None:
    response = create_update.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentUpdatePayloadV2(
            status_page_incident_id=incident_id,
            message=message,
            notify_subscribers=False,
            incident_status=StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus(
                status
            ),
        ),
    )
    assert response.status_code == 201, response.content


def get(server: LiveServer, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(server.base_url + path, timeout=30, **kwargs)


def component_row(body: str, name: str) -> str:
    """The ``<li class="component">`` of the component called ``name``."""
    for chunk in body.split('<li class="component">')[1:]:
        if f'<span class="component__name">{name}</span>' in chunk:
            return chunk.split('<li class="component">')[0]
    raise AssertionError(f"no component row for {name!r}")


def make_display_page(server: LiveServer, **page_fields: Any) -> tuple[str, dict[str, str]]:
    """A page with a visible component, a hidden one, a group and a sub-page."""
    tag = uuid.uuid4().hex[:8]
    keys = {n: f"{n}-{tag}" for n in ("api", "secret", "eu", "us", "uk")}
    slug = f"show-{tag}"
    declare(
        server,
        {
            "components": [
                {"key": keys["api"], "name": "Public API", "description": "REST and GraphQL"},
                {"key": keys["secret"], "name": "Internal Billing"},
                {"key": keys["eu"], "name": "Frankfurt"},
                {"key": keys["us"], "name": "Virginia"},
                {"key": keys["uk"], "name": "London"},
            ],
            "status_pages": [
                {
                    "slug": slug,
                    "name": f"Show {tag}",
                    **page_fields,
                    "items": [
                        {"component": keys["api"]},
                        {"component": {"key": keys["secret"], "hidden": True}},
                        {
                            "group": {
                                "name": "Regions",
                                "components": [keys["eu"], keys["us"]],
                                "display_aggregated_uptime": True,
                            }
                        },
                        {
                            "sub_page": {
                                "name": "United Kingdom",
                                "items": [{"component": keys["uk"]}],
                            }
                        },
                    ],
                }
            ],
        },
    )
    return slug, keys


def test_the_page_shows_visible_components_in_order_with_groups_and_sub_pages(
    server: LiveServer,
) -> None:
    slug, _keys = make_display_page(server)
    response = get(server, f"/{slug}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    body = response.text
    assert "All systems operational" in body
    positions = [body.index(n) for n in ("Public API", "Regions", "Frankfurt", "Virginia")]
    assert positions == sorted(positions)
    assert "Internal Billing" not in body
    assert "<details>" in body and "<summary" in body  # all operational: groups folded
    assert re.search(r'<h3 id="sub-[0-9A-Z]+">United Kingdom</h3>', body)
    assert 'class="status status--operational"' in body and ">Operational</span>" in body


def test_the_page_advertises_its_feeds_and_links_to_subscribe(server: LiveServer) -> None:
    slug, _ = make_display_page(server)
    body = get(server, f"/{slug}").text
    base = server.base_url
    assert 'rel="alternate" type="application/atom+xml" title="Show' in body
    assert f'href="{base}/{slug}/feed.atom"' in body
    assert f'href="{base}/{slug}/feed.rss"' in body
    assert 'type="text/calendar"' in body and f'href="{base}/{slug}/maintenance.ics"' in body
    assert f'href="/{slug}/subscribe"' in body
    assert f'<link rel="stylesheet" href="/{slug}/static/clarion.css">' in body


def test_an_ongoing_incident_shows_its_timeline_and_the_component_status_in_words(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    first, second = list(page.components.values())[:2]
    incident_id = publish(
        sdk,
        page.id,
        "Checkout is failing",
        "We are looking into **failed payments**.",
        {first: "full_outage", second: "degraded_performance"},
    )
    body = get(server, f"/{page.slug}").text
    assert "Major outage" in body  # banner: the worst status
    assert "Ongoing incidents" in body
    assert "Checkout is failing" in body
    assert "<strong>failed payments</strong>" in body
    assert f'href="/{page.slug}/incidents/{incident_id}"' in body
    assert (
        'status status--full_outage"><span class="status__icon" aria-hidden="true"></span>'
        "Full outage" in body
    )
    assert "Degraded performance" in body
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\"", body)

    post_update(sdk, incident_id, "Payments work again.")
    after = get(server, f"/{page.slug}").text
    assert "All systems operational" in after
    assert "Ongoing incidents" not in after
    assert "Recently resolved" in after and "Checkout is failing" in after

    permalink = get(server, f"/{page.slug}/incidents/{incident_id}")
    assert permalink.status_code == 200
    text = permalink.text
    assert '<h1 id="incident-title">Checkout is failing</h1>' in text
    assert text.index("Payments work again.") < text.index("failed payments")  # newest first
    assert "Resolved" in text and "Full outage" in text


def test_a_monitoring_incident_without_impact_keeps_a_notice_banner(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    publish(sdk, page.id, "Watching a fix", "Monitoring.", {}, status="monitoring")
    body = get(server, f"/{page.slug}").text
    assert "We are looking into an issue" in body
    assert "banner--notice" in body


def test_hostile_markdown_never_reaches_the_page(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    hostile = (
        "<script>alert('x')</script>\n\n"
        "[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
        '<img src=x onerror="alert(2)">\n\n'
        '<a href="javascript:alert(3)" onclick="alert(4)">raw</a>\n\n'
        '<iframe src="https://evil.example"></iframe> <style>body{display:none}</style>\n\n'
        "[ok](https://example.com/fix)"
    )
    incident_id = publish(sdk, page.id, "<b>Bold</b> title", hostile, {})
    for path in (
        f"/{page.slug}",
        f"/{page.slug}/incidents/{incident_id}",
        f"/{page.slug}/history",
    ):
        body = get(server, path).text
        assert_harmless(body, allowed_scripts=(f"/{page.slug}/static/clarion.js",))
        assert "&lt;script&gt;alert('x')&lt;/script&gt;" in body or path.endswith("history")
        assert "&lt;b&gt;Bold&lt;/b&gt; title" in body  # the title is text, escaped
    body = get(server, f"/{page.slug}/incidents/{incident_id}").text
    assert '<a href="https://example.com/fix" rel="nofollow noopener">ok</a>' in body


def test_uptime_bars_follow_the_display_mode(server: LiveServer) -> None:
    slug, _ = make_display_page(server, display_uptime_mode="chart_only")
    body = get(server, f"/{slug}").text
    # API, Frankfurt, Virginia, the Regions group (aggregated), London
    assert body.count('<ol class="bars"') == 5
    assert "% uptime over the last 90 days</p>" not in body
    assert 'class="uptime__pct"' not in body

    slug, _ = make_display_page(server, display_uptime_mode="nothing")
    assert '<ol class="bars"' not in get(server, f"/{slug}").text

    slug, _ = make_display_page(server)
    body = get(server, f"/{slug}").text
    assert body.count('class="uptime__pct"') == 5
    bars = re.findall(
        r'<li class="bar s-(\w+)(?: t)?" role="option" tabindex="(-1|0)"'
        r'(?: aria-selected="true")? aria-label="([^"]+)"',
        body,
    )
    assert len(bars) == 5 * 90
    # One listbox per row, whose one tab stop (and selected day) is today.
    assert body.count('<ol class="bars" role="listbox" aria-orientation="horizontal"') == 5
    assert [i for i, bar in enumerate(bars) if bar[1] == "0"] == [89 + 90 * n for n in range(5)]
    assert body.count('aria-selected="true"') == 5
    # Before the components existed there is no data; today is covered and up.
    assert bars[0][0] == "nd" and "no data" in bars[0][2]
    assert bars[89][0] == "ok" and "100.00% uptime; no incidents" in bars[89][2]


def test_a_custom_domain_serves_the_page_at_its_root(server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:8]
    domain = f"status-{tag}.example.com"
    slug, _ = make_display_page(server, custom_domain=domain)
    response = get(server, "/", headers={"Host": domain})
    assert response.status_code == 200
    body = response.text
    assert "Public API" in body
    assert '<link rel="stylesheet" href="/static/clarion.css">' in body
    assert f'href="http://{domain}/feed.atom"' in body
    assert get(server, "/history", headers={"Host": domain}).status_code == 200
    assert get(server, "/static/clarion.css", headers={"Host": domain}).status_code == 200
    # The slug path keeps working under the base URL.
    assert get(server, f"/{slug}").status_code == 200


def test_history_lists_a_month_and_redirects_the_query_form(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    incident_id = publish(sdk, page.id, "A thing in history", "Hello", {})
    month = server.clock.now().strftime("%Y-%m")
    current = get(server, f"/{page.slug}/history")
    assert current.status_code == 200 and "A thing in history" in current.text
    by_month = get(server, f"/{page.slug}/history/{month}")
    assert f'href="/{page.slug}/incidents/{incident_id}"' in by_month.text
    redirect = get(server, f"/{page.slug}/history?month={month}")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == f"/{page.slug}/history/{month}"
    assert get(server, f"/{page.slug}/history/2001-01").status_code == 200
    assert (
        "No incidents were reported in January 2001"
        in get(server, f"/{page.slug}/history/2001-01").text
    )
    assert get(server, f"/{page.slug}/history/9999-01").status_code == 404
    assert get(server, f"/{page.slug}/history/nonsense").status_code == 404


def test_unknown_public_paths_are_html_404s_and_api_paths_keep_the_envelope(
    server: LiveServer, page: PageInfo
) -> None:
    missing = httpx.get(f"{server.base_url}/no-such-page", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert get(server, f"/{page.slug}/incidents/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert get(server, f"/{page.slug}/nope").status_code == 404
    api = get(server, "/v2/no_such_endpoint")
    assert api.status_code == 404
    assert api.json()["type"] == "not_found" and "request_id" in api.json()
    assert get(server, "/healthz").json() == {"status": "ok"}
    assert httpx.post(f"{server.base_url}/{page.slug}", timeout=10).status_code == 405


def test_maintenance_in_progress_and_upcoming_show_with_permalinks(
    server: LiveServer, page: PageInfo
) -> None:
    from datetime import timedelta

    from clarion.context import AppContext
    from clarion.maintenances import service as maintenances

    first, second = list(page.components.values())[:2]
    now = server.clock.now()

    async def body(ctx: AppContext) -> tuple[str, str]:
        async with ctx.db.write() as session:
            running = await maintenances.create_maintenance(
                session,
                ctx.events,
                actor=OPERATOR,
                page_id=page.id,
                name="Replacing disks",
                maintenance_status="maintenance_in_progress",
                affected_component_ids=[first],
                start_at=now - timedelta(minutes=5),
                end_at=now + timedelta(hours=1),
                message="Disks are being **replaced**.",
                notify_subscribers=False,
                automate=False,
                now=now,
            )
            later = await maintenances.create_maintenance(
                session,
                ctx.events,
                actor=OPERATOR,
                page_id=page.id,
                name="Kernel upgrade",
                maintenance_status="maintenance_scheduled",
                affected_component_ids=[second],
                start_at=now + timedelta(days=2),
                end_at=now + timedelta(days=2, hours=2),
                message="Rolling reboots.",
                notify_subscribers=False,
                automate=False,
                now=now,
            )
        return running.maintenance.id, later.maintenance.id

    running_id, later_id = server.call(body)
    text = get(server, f"/{page.slug}").text
    assert "Maintenance in progress" in text  # the banner and the section
    assert text.index("Replacing disks") < text.index("Components")
    assert text.index("Scheduled maintenance") > text.index("Components")
    assert "Kernel upgrade" in text
    assert "Under maintenance" in text  # the component's status in words
    assert f'href="/{page.slug}/maintenance/{running_id}"' in text

    permalink = get(server, f"/{page.slug}/maintenance/{running_id}")
    assert permalink.status_code == 200
    assert "<strong>replaced</strong>" in permalink.text
    assert "In progress" in permalink.text
    assert get(server, f"/{page.slug}/maintenance/{later_id}").status_code == 200
    history = get(server, f"/{page.slug}/history").text
    assert "Replacing disks" in history


def test_the_public_site_never_shadows_the_apps_other_routes() -> None:
    """The public site is the router's first route; every other route with a literal
    segment where a page's slug or sub-path would be (``/subscribe``, ``/{slug}/subscribe``)
    is left to the router, and page paths are the site's."""
    from starlette.routing import Match

    from clarion.app import routers
    from clarion.public.routes import PublicRoute

    paths = [route.path for router in routers() for route in router.routes]  # type: ignore[attr-defined]
    public = PublicRoute(None, paths)  # type: ignore[arg-type]

    def claimed(path: str) -> bool:
        return public.matches({"type": "http", "path": path})[0] == Match.FULL

    literal = [p for p in paths if not p.startswith(("/v1", "/v2"))]
    assert literal, "the app has pages of its own outside the API"
    for path in literal:
        concrete = path.replace("{slug}", "acme").replace("{token}", "t0ken")
        assert not claimed(concrete), path
    for path in ("/acme", "/acme/", "/acme/incidents/01ABC", "/acme/feed.atom", "/static/x.css"):
        assert claimed(path), path
    for path in ("/v2/status_pages", "/v1/identity", "/openapi.json", "/healthz"):
        assert not claimed(path), path


def test_the_base_url_root_leads_to_the_only_page(tmp_path: Path) -> None:
    from tests.harness import fresh_database, live_server

    with fresh_database(str(tmp_path)) as url, live_server(url) as lone:
        assert get(lone, "/").status_code == 404  # no page yet
        slug, _ = make_display_page(lone)
        response = get(lone, "/")
        assert response.status_code == 302
        assert response.headers["location"] == f"/{slug}"
        make_display_page(lone)
        assert get(lone, "/").status_code == 404  # several: no guessing
