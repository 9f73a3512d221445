"""The publishing forms' component groups are kept per page version: a change to the page's
structure or to a component's name shows on the next screen, and a post made after such a
change reads the page as it is now, not as the form was shown."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from clarion.components.models import Component
from clarion.context import AppContext
from clarion.incidents.service import load_incident
from clarion.status_pages.models import StatusPage
from tests.console.helpers import signed_in
from tests.factories import declare
from tests.harness import LiveServer

PUBLISHER = ("viewer", "status_page_publisher")


def _declare_page(server: LiveServer, slug: str, names: dict[str, str]) -> None:
    declare(
        server,
        {
            "components": [{"key": k, "name": n} for k, n in names.items()],
            "status_pages": [
                {"slug": slug, "name": f"Parts {slug}", "items": [{"component": k} for k in names]}
            ],
        },
    )


def _ids(server: LiveServer, slug: str, keys: list[str]) -> tuple[str, dict[str, str]]:
    async def body(ctx: AppContext) -> tuple[str, dict[str, str]]:
        async with ctx.db.read() as session:
            page_id = await session.scalar(select(StatusPage.id).where(StatusPage.slug == slug))
            rows = await session.execute(
                select(Component.key, Component.id).where(Component.key.in_(keys))
            )
            assert page_id is not None
            return page_id, {str(key): cid for key, cid in rows.all()}

    return server.call(body)


def test_a_post_after_the_page_changed_reads_the_page_as_it_is_now(server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:8]
    slug, a, b, c = f"parts-{tag}", f"a-{tag}", f"b-{tag}", f"c-{tag}"
    _declare_page(server, slug, {a: "Alpha", b: "Beta"})
    console = signed_in(server, *PUBLISHER)
    page_id, _ = _ids(server, slug, [a, b])
    screen = f"/admin/incidents/new?status_page_id={page_id}"
    shown = console.get(screen).text
    assert "Alpha" in shown and "Gamma" not in shown
    form = {
        name: re.findall(rf'name="{name}" value="([^"]*)"', shown)[0]
        for name in ("csrf_token", "idempotency_key")
    }

    _declare_page(server, slug, {a: "Alpha renamed", b: "Beta", c: "Gamma"})
    _, ids = _ids(server, slug, [a, b, c])
    answer = console.post(
        "/admin/incidents/new",
        {
            **form,
            "status_page_id": page_id,
            "name": "After the page changed",
            "incident_status": "investigating",
            "message": "Looking.",
            f"impact-{ids[c]}": "partial_outage",
            "action": "publish",
        },
    )
    assert answer.status_code == 303, answer.text
    incident_id = answer.headers["location"].rsplit("/", 1)[1]

    async def impacts(ctx: AppContext) -> set[str]:
        async with ctx.db.read() as session:
            view = await load_incident(session, incident_id)
        return {i.component_id for i in view.impacts}

    assert server.call(impacts) == {ids[c]}
    again = console.get(screen).text
    assert "Alpha renamed" in again and "Gamma" in again
