"""axe-core finds nothing on any public page, in both themes and at both widths.

The pages show every state they can be in: each banner, every status of a component, a day
bar and a tag, incidents and windows ongoing, scheduled and over, Markdown with links and code,
a group, a sub-page, the history and the not-found page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser

from clarion.context import AppContext
from clarion.incidents import service as incidents
from clarion.maintenances import service as maintenances
from tests.browser import SCHEMES, WIDTHS, axe_violations, describe
from tests.factories import OPERATOR, make_page
from tests.harness import LiveServer
from tests.public.test_page import make_display_page

pytestmark = pytest.mark.browser

PROSE = (
    "We moved traffic away from **Frankfurt**; see [the report](https://example.com/report).\n\n"
    "- retries are safe\n- `GET /v2/health` answers\n\n```\n$ curl -I /healthz\n```"
)


@dataclass
class Scene:
    """The paths of the busy page and of one page per banner state."""

    slug: str
    ongoing: str
    resolved: str
    running: str
    planned: str
    banners: list[str]


@pytest.fixture(scope="module")
def scene(server: LiveServer) -> Scene:
    slug, keys = make_display_page(server)
    page_id, ids = server.call(lambda ctx: _ids(ctx, slug, list(keys.values())))
    api, eu, us, uk = (ids[keys[k]] for k in ("api", "eu", "us", "uk"))
    now = server.clock.now()
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)

    async def build(ctx: AppContext) -> dict[str, str]:
        made: dict[str, str] = {}
        # Days of the past: a full outage, a partial one, a slow day, a window.
        past = [
            ("Database failover", {api: "full_outage"}, 20),
            ("Packet loss in Frankfurt", {eu: "partial_outage"}, 12),
            ("Slow logins in Virginia", {us: "degraded_performance"}, 8),
        ]
        for name, statuses, days_ago in past:
            start = today - timedelta(days=days_ago, hours=-6)
            view = await _incident(ctx, page_id, name, statuses, start, "investigating")
            await _update(ctx, view, start + timedelta(hours=2), "resolved")
            made.setdefault("resolved", view)
        window = today - timedelta(days=5, hours=-1)
        await _window(ctx, page_id, "Router firmware", "complete", [uk], window)
        # Now: incidents in every state, a window in progress and one to come.
        made["ongoing"] = await _incident(
            ctx, page_id, "API errors", {api: "full_outage"}, now, "investigating"
        )
        await _incident(
            ctx, page_id, "Frankfurt is slow", {eu: "partial_outage"}, now, "identified"
        )
        await _incident(ctx, page_id, "Watching a fix", {}, now, "monitoring")
        made["running"] = await _window(ctx, page_id, "Replacing disks", "in_progress", [uk], now)
        later = now + timedelta(days=2)
        made["planned"] = await _window(ctx, page_id, "Kernel upgrade", "scheduled", [us], later)
        return made

    made = server.call(build)
    return Scene(
        slug=slug,
        ongoing=made["ongoing"],
        resolved=made["resolved"],
        running=made["running"],
        planned=made["planned"],
        banners=[_banner_page(server, state) for state in BANNER_STATES],
    )


#: One page per banner: its incident's impact (None: a window in progress; "": monitoring).
BANNER_STATES = ("operational", "degraded_performance", "partial_outage", None, "")


def _banner_page(server: LiveServer, state: str | None) -> str:
    info = make_page(server, components=2, with_group=False)
    component = next(iter(info.components.values()))
    now = server.clock.now()

    async def build(ctx: AppContext) -> None:
        if state is None:
            await _window(ctx, info.id, "Moving racks", "in_progress", [component], now)
        elif state == "":
            await _incident(ctx, info.id, "Watching", {}, now, "monitoring")
        elif state != "operational":
            await _incident(ctx, info.id, "Trouble", {component: state}, now, "investigating")

    server.call(build)
    return f"/{info.slug}"


async def _incident(
    ctx: AppContext,
    page_id: str,
    name: str,
    statuses: dict[str, str],
    at: datetime,
    status: str,
) -> str:
    async with ctx.db.write() as session:
        view = await incidents.create_incident(
            session,
            ctx.events,
            actor=OPERATOR,
            page_id=page_id,
            name=name,
            incident_status=status,
            message=PROSE,
            notify_subscribers=False,
            component_statuses=[incidents.ComponentStatusInput(c, s) for c, s in statuses.items()],
            now=at,
        )
    return view.incident.id


async def _window(
    ctx: AppContext, page_id: str, name: str, status: str, components: list[str], at: datetime
) -> str:
    """A maintenance window in ``status`` (``scheduled``, ``in_progress``, ``complete``):
    two hours from ``at``, or from five minutes before it when in progress."""
    start = at - timedelta(minutes=5) if status == "in_progress" else at
    async with ctx.db.write() as session:
        view = await maintenances.create_maintenance(
            session,
            ctx.events,
            actor=OPERATOR,
            page_id=page_id,
            name=name,
            maintenance_status=f"maintenance_{status}",
            affected_component_ids=components,
            start_at=start,
            end_at=start + timedelta(hours=2),
            message=PROSE,
            notify_subscribers=False,
            automate=False,
            now=ctx.clock.now(),
        )
    return view.maintenance.id


async def _update(ctx: AppContext, incident_id: str, at: datetime, status: str) -> None:
    async with ctx.db.write() as session:
        await incidents.add_update(
            session,
            ctx.events,
            actor=OPERATOR,
            incident_id=incident_id,
            message="Fixed.",
            notify_subscribers=False,
            incident_status=status,
            component_statuses=None,
            now=at,
        )


async def _ids(ctx: AppContext, slug: str, keys: list[str]) -> tuple[str, dict[str, str]]:
    """The page's id and its components' ids by key."""
    from sqlalchemy import select

    from clarion.components.models import Component
    from clarion.status_pages.models import StatusPage

    async with ctx.db.read() as session:
        page_id = await session.scalar(select(StatusPage.id).where(StatusPage.slug == slug))
        rows = await session.scalars(select(Component).where(Component.key.in_(keys)))
        return str(page_id), {c.key: c.id for c in rows}


def public_paths(scene: Scene) -> list[str]:
    base = f"/{scene.slug}"
    month = datetime.now(UTC).strftime("%Y-%m")
    return [
        base,
        f"{base}/incidents/{scene.ongoing}",
        f"{base}/incidents/{scene.resolved}",
        f"{base}/maintenance/{scene.running}",
        f"{base}/maintenance/{scene.planned}",
        f"{base}/history",
        f"{base}/history/{month}",
        f"{base}/history/2001-01",
        f"{base}/no-such-thing",
        f"/no-such-page-{uuid.uuid4().hex[:6]}",
        *scene.banners,
    ]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_axe_finds_nothing_on_any_public_page(
    browser: Browser, server: LiveServer, scene: Scene, scheme: str, width: str
) -> None:
    context = browser.new_context(
        color_scheme=scheme,  # type: ignore[arg-type]
        viewport=WIDTHS[width],  # type: ignore[arg-type]
        timezone_id="Europe/Berlin",
    )
    found: list[str] = []
    try:
        tab = context.new_page()
        for path in public_paths(scene):
            tab.goto(server.base_url + path)
            tab.wait_for_load_state("networkidle")
            found += [f"{path}: {line}" for line in describe(axe_violations(tab))]
    finally:
        context.close()
    assert found == [], "\n".join(found)
