"""Publishing from the console over raw HTTP, as a browser without JavaScript posts its forms:
a declared incident is the API's (same impacts, same outbox rows), a double submit of one form
publishes once, a viewer's post and a post without the CSRF token write nothing, and the API's
422 messages come back next to the field with what was typed kept."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from clarion.context import AppContext
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.maintenances.models import Maintenance
from clarion.notifications.models import OutboxMessage
from tests.console.helpers import Console, signed_in
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import add_subscribers

PUBLISHER = ("viewer", "status_page_publisher")
_KEY = re.compile(r'name="idempotency_key" value="([^"]*)"')


@pytest.fixture(scope="module")
def page(server: LiveServer) -> PageInfo:
    return make_page(server, components=3)


def form_of(console: Console, path: str) -> dict[str, str]:
    """The CSRF token and idempotency key of the form on ``path``."""
    answer = console.get(path)
    assert answer.status_code == 200, answer.text
    token = re.search(r'name="csrf_token" value="([^"]*)"', answer.text)
    key = _KEY.search(answer.text)
    assert token is not None and key is not None
    return {"csrf_token": token.group(1), "idempotency_key": key.group(1)}


def incidents_named(server: LiveServer, name: str) -> list[Incident]:
    async def body(ctx: AppContext) -> list[Incident]:
        async with ctx.db.read() as session:
            return list(await session.scalars(select(Incident).where(Incident.name == name)))

    return server.call(body)


def count(server: LiveServer, query: Any) -> int:
    async def body(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            return int(await session.scalar(query) or 0)

    return server.call(body)


def declare_data(page: PageInfo, name: str, **extra: Any) -> dict[str, Any]:
    c0, c1 = sorted(page.components.values())[:2]
    return {
        "status_page_id": page.id,
        "name": name,
        "incident_status": "investigating",
        "message": "We are **looking** into it.",
        "notify_subscribers": "on",
        f"impact-{c0}": "partial_outage",
        f"impact-{c1}": "degraded_performance",
        "action": "publish",
        **extra,
    }


def test_declaring_publishes_the_incident_with_its_impacts_and_notifies_subscribers(
    server: LiveServer, page: PageInfo
) -> None:
    add_subscribers(server, page.id, 3)
    console = signed_in(server, *PUBLISHER)
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    shown = console.get(f"/admin/incidents/new?status_page_id={page.id}").text
    assert "3 subscribers will be notified" in shown
    answer = console.post("/admin/incidents/new", {**form, **declare_data(page, "Declared")})
    assert answer.status_code == 303, answer.text
    [incident] = incidents_named(server, "Declared")
    assert answer.headers["location"] == f"/admin/incidents/{incident.id}"
    screen = console.get(answer.headers["location"])
    assert "Published the incident" in screen.text
    assert "<strong>looking</strong>" in screen.text
    assert f"/{page.slug}/incidents/{incident.id}" in screen.text  # the public permalink
    outbox = select(func.count()).where(OutboxMessage.subject_id == incident.id)
    assert count(server, outbox) == 3


def test_a_double_submit_of_one_form_creates_one_incident(
    server: LiveServer, page: PageInfo
) -> None:
    console = signed_in(server, *PUBLISHER)
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    data = {**form, **declare_data(page, "Submitted twice")}
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: console.post("/admin/incidents/new", data), range(2)))
    assert [a.status_code for a in answers] == [303, 303]
    [incident] = incidents_named(server, "Submitted twice")
    assert {a.headers["location"] for a in answers} == {f"/admin/incidents/{incident.id}"}
    # A third post, later, still replays.
    again = console.post("/admin/incidents/new", data)
    assert again.headers["location"] == f"/admin/incidents/{incident.id}"
    assert len(incidents_named(server, "Submitted twice")) == 1
    shown = console.get(again.headers["location"]).text
    assert "This form was already published: here is the incident it created." in shown
    assert "Published the incident" not in shown


def test_a_viewer_can_read_the_screens_but_not_publish(server: LiveServer, page: PageInfo) -> None:
    console = signed_in(server, "viewer")
    shown = console.get(f"/admin/incidents/new?status_page_id={page.id}")
    assert shown.status_code == 200
    assert "Publishing needs the" in shown.text and "disabled" in shown.text
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    answer = console.post("/admin/incidents/new", {**form, **declare_data(page, "By a viewer")})
    assert answer.status_code == 403
    assert "status_page_publisher" in answer.text
    assert incidents_named(server, "By a viewer") == []
    for path in ("/admin/maintenance/new", "/admin/incidents/backfill"):
        refused = console.post(path, {**form, "status_page_id": page.id, "name": "By a viewer"})
        assert refused.status_code == 403
    assert count(server, select(func.count()).where(Maintenance.name == "By a viewer")) == 0


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(
    server: LiveServer, page: PageInfo
) -> None:
    console = signed_in(server, *PUBLISHER)
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    data = {"idempotency_key": form["idempotency_key"], **declare_data(page, "Without a token")}
    assert console.post("/admin/incidents/new", data).status_code == 403
    other = signed_in(server, *PUBLISHER)
    data["csrf_token"] = other.csrf()
    assert console.post("/admin/incidents/new", data).status_code == 403
    assert incidents_named(server, "Without a token") == []


def test_the_apis_422_is_shown_next_to_the_field_with_what_was_typed_kept(
    server: LiveServer, page: PageInfo
) -> None:
    console = signed_in(server, *PUBLISHER)
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    data = {**form, **declare_data(page, "   ", message="Typed *before* the error")}
    answer = console.post("/admin/incidents/new", data)
    assert answer.status_code == 422
    error = re.search(
        r'<div class="field-error" id="field-name-error">\s*<p>([^<]*)</p>', answer.text
    )
    assert error is not None and error.group(1) == "name is required"
    assert 'aria-invalid="true"' in answer.text
    assert ">Typed *before* the error</textarea>" in answer.text
    c0 = sorted(page.components.values())[0]
    assert re.search(r'<option value="partial_outage" selected>', answer.text)
    assert f'id="field-impact-{c0}"' in answer.text
    # Resolving while marking a component affected: the service's rule, next to it.
    data = {**form, **declare_data(page, "Resolved but affected", incident_status="resolved")}
    answer = console.post("/admin/incidents/new", data)
    assert answer.status_code == 422
    assert "cannot mark components as affected on a resolved incident" in answer.text


def test_updates_rename_and_resolve_from_the_incident_screen(
    server: LiveServer, page: PageInfo
) -> None:
    console = signed_in(server, *PUBLISHER)
    tag = uuid.uuid4().hex[:8]  # the server is shared: names other tests use are taken
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    created = console.post(
        "/admin/incidents/new", {**form, **declare_data(page, f"To update {tag}")}
    )
    screen = created.headers["location"]
    [incident] = incidents_named(server, f"To update {tag}")
    c0 = sorted(page.components.values())[0]
    update = form_of(console, screen)
    data = {
        **update,
        "incident_status": "identified",
        "message": "Found it.",
        f"impact-{c0}": "full_outage",
        "action": "publish",
    }
    assert console.post(f"{screen}/updates", data).status_code == 303
    assert console.post(f"{screen}/updates", data).status_code == 303  # the same form again
    updates = select(func.count()).where(IncidentUpdate.incident_id == incident.id)
    assert count(server, updates) == 2
    blank = console.post(f"{screen}/updates", {**form_of(console, screen), "message": ""})
    assert blank.status_code == 422 and 'id="field-message-error"' in blank.text
    renamed = console.post(f"{screen}/name", {**form_of(console, screen), "name": f"Renamed {tag}"})
    assert renamed.status_code == 303
    resolve = {**form_of(console, screen), "incident_status": "resolved", "message": "Fixed."}
    resolve[f"impact-{c0}"] = "full_outage"  # as shown: resolving sets it back anyway
    assert console.post(f"{screen}/updates", resolve).status_code == 303
    [done] = incidents_named(server, f"Renamed {tag}")
    assert done.incident_status == "resolved"
    assert "Operational" in console.get(screen).text


def test_maintenance_is_scheduled_in_the_chosen_zone_completed_and_cancelled(
    server: LiveServer, page: PageInfo
) -> None:
    console = signed_in(server, *PUBLISHER)
    form = form_of(console, f"/admin/maintenance/new?status_page_id={page.id}")
    c0, c1 = sorted(page.components.values())[:2]
    data = {
        **form,
        "status_page_id": page.id,
        "name": "Database upgrade",
        "starts": "2099-07-01T03:00",
        "ends": "2099-07-01T02:00",
        "time_zone": "Europe/Berlin",
        "message": "Upgrading.",
        "component": [c0, c1],
        "action": "schedule",
    }
    refused = console.post("/admin/maintenance/new", data)
    assert refused.status_code == 422
    assert re.search(r'id="field-ends-error">\s*<p>end_at must be after start_at', refused.text)
    data["ends"] = "2099-07-01T05:00"
    created = console.post("/admin/maintenance/new", data)
    assert created.status_code == 303, created.text

    maintenance_id = created.headers["location"].rsplit("/", 1)[1]

    async def window(ctx: AppContext) -> Maintenance:
        async with ctx.db.read() as session:
            found = await session.get(Maintenance, maintenance_id, populate_existing=True)
            assert found is not None
            return found

    row = server.call(window)
    # 03:00 in Berlin in July (CEST, UTC+2) is 01:00 UTC.
    assert (row.start_at.hour, row.end_at - row.start_at) == (1, timedelta(hours=2))
    screen = created.headers["location"]
    shown = console.get(screen).text
    assert "Wed 1 Jul 2099, 01:00 UTC" in shown
    assert "Scheduled the maintenance “Database upgrade”." in shown
    repeated = console.post("/admin/maintenance/new", data)
    assert repeated.headers["location"] == screen
    assert "This form was already published" in console.get(screen).text
    complete = form_of(console, screen)
    assert (
        console.post(
            f"{screen}/updates",
            {
                **complete,
                "maintenance_status": "maintenance_complete",
                "message": "Done.",
            },
        ).status_code
        == 303
    )
    assert server.call(window).maintenance_status == "maintenance_complete"
    cancelled = console.post(f"{screen}/cancel", {"csrf_token": complete["csrf_token"]})
    assert cancelled.status_code == 303
    assert count(server, select(func.count()).where(Maintenance.id == row.id)) == 0


def test_a_past_incident_is_backfilled_with_its_updates(server: LiveServer, page: PageInfo) -> None:
    console = signed_in(server, *PUBLISHER)
    form = form_of(console, f"/admin/incidents/backfill?status_page_id={page.id}")
    c0 = sorted(page.components.values())[0]
    data = {
        **form,
        "rows": "3",
        "status_page_id": page.id,
        "name": "Last month's outage",
        "time_zone": "UTC",
        "u0_status": "investigating",
        "u0_at": "2026-01-10T10:00",
        "u0_message": "Errors.",
        f"u0_impact-{c0}": "full_outage",
        "u1_status": "monitoring",
        "u1_at": "2026-01-10T11:00",
        "u1_message": "Fixed, watching.",
        f"u1_impact-{c0}": "full_outage",
        "u2_status": "monitoring",
        "u2_at": "2026-01-10T12:00",
        "u2_message": "All good.",
        "action": "record",
    }
    refused = console.post("/admin/incidents/backfill", data)
    assert refused.status_code == 422
    assert re.search(
        r'id="field-u2_status-error">\s*<p>The last update must be resolved', refused.text
    )
    data["u2_status"] = "resolved"
    created = console.post("/admin/incidents/backfill", data)
    assert created.status_code == 303, created.text
    [incident] = incidents_named(server, "Last month's outage")
    assert incident.retrospective and incident.update_count == 3
    assert incident.published_at.replace(tzinfo=None).isoformat() == "2026-01-10T10:00:00"


def test_preview_shows_the_message_as_the_public_page_will_and_publishes_nothing(
    server: LiveServer, page: PageInfo
) -> None:
    console = signed_in(server, *PUBLISHER)
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    message = "Slow *checkout*.\n\n<script>alert(1)</script> [docs](javascript:alert(1))"
    data = {**form, **declare_data(page, "Only previewed", message=message, action="preview")}
    shown = console.post("/admin/incidents/new", data)
    assert shown.status_code == 200
    preview = re.search(r'id="field-message-preview"[^>]*>(.*?)</div>', shown.text, re.S)
    assert preview is not None
    assert "<em>checkout</em>" in preview.group(1)
    assert "<script" not in preview.group(1), preview.group(1)
    assert 'href="javascript' not in preview.group(1)
    assert f'name="idempotency_key" value="{form["idempotency_key"]}"' in shown.text
    assert incidents_named(server, "Only previewed") == []
    # What htmx asks for while typing: the same rendering, alone.
    fragment = console.post(
        "/admin/preview", {"csrf_token": form["csrf_token"], "message": message}
    )
    assert fragment.status_code == 200
    assert fragment.text.strip() == preview.group(1).strip()


def test_the_count_of_who_will_be_notified_follows_each_subscribers_components(
    server: LiveServer,
) -> None:
    from clarion.console.screens import audience_of

    fresh = make_page(server)
    c0, c1, c2 = (fresh.components[k] for k in sorted(fresh.components))
    add_subscribers(server, fresh.id, 2)  # the whole page
    add_subscribers(server, fresh.id, 3, components=[c0])
    add_subscribers(server, fresh.id, 1, components=[c0, c1])
    add_subscribers(server, fresh.id, 2, components=[c1, c0])  # the same set, listed otherwise
    add_subscribers(server, fresh.id, 4, components=[c2])

    async def body(ctx: AppContext) -> Any:
        async with ctx.db.read() as session:
            return await audience_of(session, fresh.id)

    audience = server.call(body)
    assert (audience.whole_page, audience.following_some) == (2, 10)
    assert audience.notified(set()) == 2
    assert audience.notified({c0}) == 2 + 3 + 1 + 2
    assert audience.notified({c1}) == 2 + 1 + 2
    assert audience.notified({c1, c2}) == 2 + 1 + 2 + 4
    assert audience.notified({c0, c1, c2}) == 12
    console = signed_in(server, *PUBLISHER)
    shown = console.get(f"/admin/incidents/new?status_page_id={fresh.id}").text
    assert "2 subscribers will be notified (2 follow the whole page; of the 10 who" in shown


def test_a_maintenance_update_sets_a_components_status_by_hand_or_lets_the_status_move_it(
    server: LiveServer, page: PageInfo, token: str
) -> None:
    console = signed_in(server, *PUBLISHER)
    c0, c1 = sorted(page.components.values())[:2]
    form = form_of(console, f"/admin/maintenance/new?status_page_id={page.id}")
    created = console.post(
        "/admin/maintenance/new",
        {
            **form,
            "status_page_id": page.id,
            "name": "Network work",
            "starts": "2099-08-01T03:00",
            "ends": "2099-08-01T05:00",
            "time_zone": "UTC",
            "message": "Planned.",
            "component": [c0, c1],
            "action": "schedule",
        },
    )
    assert created.status_code == 303, created.text
    screen = created.headers["location"]
    maintenance_id = screen.rsplit("/", 1)[1]
    shown = console.get(screen).text
    for cid in (c0, c1):
        control = re.search(
            rf'<select id="field-impact-{cid}" name="impact-{cid}"[^>]*>(.*?)</select>', shown, re.S
        )
        assert control is not None, cid
        options = re.findall(r">([^<]+)</option>", control.group(1))
        assert options == ["Follows the status", "Operational", "Under maintenance"]

    def latest_statuses() -> dict[str, str]:
        answer = httpx.get(
            f"{server.base_url}/v2/status_page_maintenances/{maintenance_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        updates = answer.json()["status_page_maintenance"]["updates"]
        newest = max(updates, key=lambda u: u["published_at"])
        return {c["component_id"]: c["component_status"] for c in newest["component_statuses"]}

    started = console.post(
        f"{screen}/updates",
        {
            **form_of(console, screen),
            "maintenance_status": "maintenance_in_progress",
            "message": "Started; the second one is not touched yet.",
            f"impact-{c0}": "",
            f"impact-{c1}": "operational",
        },
    )
    assert started.status_code == 303, started.text
    assert latest_statuses() == {c0: "under_maintenance", c1: "operational"}

    refused = console.post(
        f"{screen}/updates",
        {
            **form_of(console, screen),
            "maintenance_status": "maintenance_complete",
            "message": "Done.",
            f"impact-{c0}": "under_maintenance",
        },
    )
    assert refused.status_code == 422
    assert re.search(
        r'id="field-maintenance_status-error">\s*<p>component_statuses must not be sent when',
        refused.text,
    )
    assert latest_statuses() == {c0: "under_maintenance", c1: "operational"}
    done = console.post(
        f"{screen}/updates",
        {
            **form_of(console, screen),
            "maintenance_status": "maintenance_complete",
            "message": "Done.",
        },
    )
    assert done.status_code == 303, done.text
    assert set(latest_statuses().values()) <= {"operational"}
