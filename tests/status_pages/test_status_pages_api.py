"""Status pages and their structure, read through incident.io's official SDK."""

from __future__ import annotations

import uuid

from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_list_status_pages as list_pages,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page as show_page,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_structure as show_structure,
)
from incident_io.models import ErrorResponse
from incident_io.types import UNSET

from tests.contract.checks import Raw
from tests.factories import declare, make_page
from tests.harness import LiveServer


def _declare_rich_page(server: LiveServer) -> str:
    """A page with every structure feature; returns its slug."""
    tag = uuid.uuid4().hex[:8]
    k = {name: f"{name}-{tag}" for name in ("api", "web", "eu", "us", "uk", "de", "db")}
    slug = f"rich-{tag}"
    declare(
        server,
        {
            "components": [
                {"key": k["api"], "name": "API", "description": "Public REST API"},
                {"key": k["web"], "name": "Website"},
                {"key": k["eu"], "name": "Europe"},
                {"key": k["us"], "name": "United States"},
                {"key": k["uk"], "name": "London"},
                {"key": k["de"], "name": "Frankfurt"},
                {"key": k["db"], "name": "Database"},
            ],
            "status_pages": [
                {
                    "slug": slug,
                    "name": f"Acme {tag}",
                    "description": "Live status of Acme's services",
                    "display_uptime_mode": "chart_only",
                    "items": [
                        {"component": k["api"]},
                        {"component": {"key": k["web"], "display_uptime": False}},
                        {
                            "group": {
                                "name": "Regions",
                                "description": "Where we run",
                                "display_aggregated_uptime": True,
                                "components": [k["eu"], {"key": k["us"], "hidden": True}],
                            }
                        },
                        {"group": {"name": "Internal", "hidden": True, "components": [k["db"]]}},
                        {
                            "sub_page": {
                                "name": "United Kingdom",
                                "items": [
                                    {"component": k["uk"]},
                                    {"group": {"name": "Backup", "components": [k["de"]]}},
                                ],
                            }
                        },
                    ],
                }
            ],
        },
    )
    return slug


def _page_id(raw: Raw, slug: str) -> str:
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"page_size": 250}
        if after:
            params["after"] = after
        body = raw.get("/v2/status_pages", params=params).json()
        for page in body["status_pages"]:
            if page["public_url"].endswith("/" + slug):
                return str(page["id"])
        after = body["pagination_meta"].get("after")
        assert after, f"page {slug} not listed"


def test_the_sdk_pagination_loop_visits_every_status_page_once_and_stops(
    server: LiveServer, sdk: AuthenticatedClient
) -> None:
    made = {make_page(server, components=1).id for _ in range(5)}
    seen: list[str] = []
    after: str | object = UNSET
    requests = 0
    while True:  # the loop from the SDK's README
        result = list_pages.sync(client=sdk, page_size=2, after=after)  # type: ignore[arg-type]
        requests += 1
        assert result is not None and not isinstance(result, ErrorResponse)
        assert result.pagination_meta.page_size == 2
        assert len(result.status_pages) <= 2
        seen.extend(p.id for p in result.status_pages)
        after = result.pagination_meta.after
        if after is UNSET:
            break
        assert requests < 1000, "the pagination loop does not end"
    assert requests >= 3
    assert len(seen) == len(set(seen)), "a page was listed twice"
    assert made <= set(seen)


def test_a_status_page_is_shown_with_its_public_url_and_description(
    server: LiveServer, sdk: AuthenticatedClient, raw: Raw
) -> None:
    slug = _declare_rich_page(server)
    page_id = _page_id(raw, slug)
    response = show_page.sync_detailed(page_id, client=sdk)
    assert response.status_code == 200
    page = response.parsed.status_page
    assert page.id == page_id
    assert page.name.startswith("Acme ")
    assert page.description == "Live status of Acme's services"
    assert page.public_url == f"{server.base_url}/{slug}"


def test_a_page_without_description_leaves_the_key_out(server: LiveServer, raw: Raw) -> None:
    info = make_page(server, components=1)
    body = raw.get(f"/v2/status_pages/{info.id}").json()
    assert set(body["status_page"]) == {"id", "name", "public_url"}


def test_an_unknown_status_page_is_a_404_the_sdk_parses(sdk: AuthenticatedClient) -> None:
    for call in (show_page, show_structure):
        response = call.sync_detailed("01NOSUCHPAGE0000000000000", client=sdk)
        assert response.status_code == 404
        assert isinstance(response.parsed, ErrorResponse)
        assert response.parsed.type_ == "not_found"
        assert response.parsed.errors[0].code == "not_found"


def test_the_structure_shows_groups_sub_pages_hidden_items_and_display_flags(
    server: LiveServer, sdk: AuthenticatedClient, raw: Raw
) -> None:
    slug = _declare_rich_page(server)
    page_id = _page_id(raw, slug)
    response = show_structure.sync_detailed(page_id, client=sdk)
    assert response.status_code == 200
    result = response.parsed
    assert result.display_uptime_mode == "chart_only"
    assert result.management_meta.managed_by == "external"
    assert result.management_meta.annotations.additional_properties == {}
    items = result.current_structure.items
    assert len(items) == 5

    api, web, regions, internal, uk = items
    assert api.component.name == "API"
    assert api.component.display_uptime is True and api.component.hidden is False
    assert api.group is UNSET and api.sub_page is UNSET
    assert web.component.name == "Website" and web.component.display_uptime is False

    group = regions.group
    assert regions.component is UNSET
    assert group.name == "Regions" and group.description == "Where we run"
    assert group.display_aggregated_uptime is True and group.hidden is False
    assert [(c.name, c.hidden) for c in group.components] == [
        ("Europe", False),
        ("United States", True),
    ]
    assert internal.group.hidden is True
    assert internal.group.display_aggregated_uptime is False
    assert internal.group.description is UNSET

    sub = uk.sub_page
    assert sub.name == "United Kingdom" and sub.id
    assert sub.items[0].component.name == "London"
    assert sub.items[1].group.name == "Backup"
    assert [c.name for c in sub.items[1].group.components] == ["Frankfurt"]

    # Component ids are the ones incidents take; each is distinct.
    ids = [api.component.component_id, web.component.component_id]
    ids += [c.component_id for c in group.components]
    assert len(set(ids)) == 4


def test_a_page_made_outside_apply_reports_dashboard_management(
    server: LiveServer, raw: Raw
) -> None:
    from datetime import UTC, datetime

    from clarion.audit import service as audit
    from clarion.context import AppContext
    from clarion.ids import new_id
    from clarion.status_pages.models import StatusPage
    from tests.factories import OPERATOR

    page_id = new_id()

    async def body(ctx: AppContext) -> None:
        now = datetime.now(UTC)
        async with ctx.db.write() as session:
            session.add(
                StatusPage(
                    id=page_id,
                    slug=f"plain-{page_id.lower()}",
                    name="Plain",
                    created_at=now,
                    updated_at=now,
                )
            )
            # As every writer does (the suite checks it: tests/audit/ledger.py).
            audit.record(
                session, OPERATOR, "page.create", object_type="status_page",
                object_id=page_id, at=now, summary="created status page",
            )  # fmt: skip

    server.call(body)
    result = raw.get(f"/v2/status_page_structures/{page_id}").json()
    assert result == {
        "current_structure": {"items": []},
        "display_uptime_mode": "chart_and_percentage",
        "management_meta": {"annotations": {}, "managed_by": "dashboard"},
    }


def test_the_status_page_list_validates_page_size_and_after(raw: Raw) -> None:
    for bad in ("0", "251", "many"):
        response = raw.get("/v2/status_pages", params={"page_size": bad})
        assert response.status_code == 422
        assert response.json()["errors"][0]["source"] == {
            "field": "page_size",
            "pointer": "/page_size",
        }
    unknown = raw.get("/v2/status_pages", params={"after": "01NOSUCHPAGE0000000000000"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["code"] == "invalid_cursor"
    default = raw.get("/v2/status_pages").json()
    assert default["pagination_meta"]["page_size"] == 25
