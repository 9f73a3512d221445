"""The console's writes in the audit log, and the **Audit log** screen, over raw HTTP as a
browser without JavaScript: each console write records exactly one entry naming the user's
e-mail (a refused form none, a double submit one, reading nothing); ``clarion users`` records
its changes without the password; the screen lists entries newest first, its filters (actor,
object, page, time in a zone) and "Older entries" work, and entries link to the object's
screen while it exists."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from clarion.audit import Actor
from clarion.audit.service import AuditFilter, list_entries, record
from clarion.context import AppContext
from tests.audit.helpers import entries_by, entries_where
from tests.console.helpers import PASSWORD, Console, signed_in
from tests.console.test_csrf_and_roles import failed_deliveries
from tests.console.test_publish_http import PUBLISHER, declare_data, form_of, incidents_named
from tests.console.test_users_cli import create, run_users, stored
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer


@pytest.fixture(scope="module")
def page(server: LiveServer) -> PageInfo:
    return make_page(server, components=2)


def email_of(console: Console) -> str:
    found = re.search(r"Signed in as ([^<]+)\.</p>", console.get("/admin").text)
    assert found is not None
    return found.group(1)


def actions(server: LiveServer, actor: str) -> list[str]:
    return [e.action for e in entries_by(server, actor)]


def publisher(server: LiveServer, prefix: str) -> tuple[Console, str, str]:
    """A signed-in publisher, their e-mail, and a fresh incident name."""
    console = signed_in(server, *PUBLISHER)
    return console, email_of(console), f"{prefix} {uuid.uuid4().hex[:6]}"


def test_each_console_write_records_one_entry_naming_the_user(
    server: LiveServer, page: PageInfo
) -> None:
    console, email, name = publisher(server, "Audited")
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    data = {**form, **declare_data(page, name)}
    with ThreadPoolExecutor(2) as pool:  # a double submit
        answers = list(pool.map(lambda _: console.post("/admin/incidents/new", data), range(2)))
    assert [a.status_code for a in answers] == [303, 303]
    [incident] = incidents_named(server, name)
    screen = f"/admin/incidents/{incident.id}"
    assert actions(server, email) == ["incident.create"]

    update = {**form_of(console, screen), "incident_status": "identified", "message": "Found."}
    assert console.post(f"{screen}/updates", update).status_code == 303
    assert console.post(f"{screen}/updates", update).status_code == 303  # the same form again
    blank = console.post(f"{screen}/updates", {**form_of(console, screen), "message": ""})
    assert blank.status_code == 422  # refused: nothing written, nothing recorded
    renamed = console.post(f"{screen}/name", {**form_of(console, screen), "name": name + "!"})
    assert renamed.status_code == 303

    window = form_of(console, f"/admin/maintenance/new?status_page_id={page.id}")
    schedule = {
        **window,
        "status_page_id": page.id,
        "name": "Audited window",
        "starts": "2099-07-01T03:00",
        "ends": "2099-07-01T02:00",
        "time_zone": "UTC",
        "message": "Upgrading.",
        "component": sorted(page.components.values())[:1],
        "action": "schedule",
    }
    assert console.post("/admin/maintenance/new", schedule).status_code == 422
    schedule["ends"] = "2099-07-01T05:00"
    created = console.post("/admin/maintenance/new", schedule)
    assert created.status_code == 303, created.text
    assert console.post("/admin/maintenance/new", schedule).status_code == 303  # replayed
    cancel = console.post(
        f"{created.headers['location']}/cancel", {"csrf_token": window["csrf_token"]}
    )
    assert cancel.status_code == 303

    for path in ("/admin", "/admin/incidents", screen, "/admin/audit"):  # reads
        assert console.get(path).status_code == 200

    entries = entries_by(server, email)
    assert [e.action for e in entries] == [
        "incident.create",
        "incident.update",
        "incident.rename",
        "maintenance.create",
        "maintenance.delete",
    ]
    assert {(e.actor_kind, e.actor_name) for e in entries} == {("user", email)}
    assert [e.object_id for e in entries[:3]] == [incident.id] * 3
    # Recorded with the write, in its transaction: the entry has the write's own time.
    assert entries[0].occurred_at.replace(tzinfo=None) == incident.published_at.replace(tzinfo=None)


def test_the_overviews_retry_records_one_entry(server: LiveServer, page: PageInfo) -> None:
    ids = failed_deliveries(server, page, 2)
    console = signed_in(server, "manage_settings")
    email = email_of(console)
    answer = console.submit("/admin/notifications/retry", {"id": ids})
    assert answer.status_code == 303
    [entry] = entries_by(server, email)
    assert (entry.action, entry.object_id, entry.detail["count"]) == ("outbox.retry", "*", 2)
    # Nothing left to retry: nothing written, nothing recorded.
    assert console.submit("/admin/notifications/retry", {"id": ids}).status_code == 303
    assert len(entries_by(server, email)) == 1


def test_the_users_cli_records_its_changes_without_the_password(server: LiveServer) -> None:
    email = f"audited-{uuid.uuid4().hex[:8]}@example.test"
    assert create(server, email, "viewer").exit_code == 0
    user = stored(server, email)
    assert user is not None
    for args in (
        ("set-role", email, "--role", "status_page_publisher"),
        ("deactivate", email),
        ("activate", email),
    ):
        assert run_users(server, *args).exit_code == 0
    new_password = "an entirely new passphrase"
    reset = run_users(server, "reset-password", email, "--password-stdin", stdin=new_password)
    assert reset.exit_code == 0, reset.output
    assert run_users(server, "list").exit_code == 0  # a read
    assert run_users(server, "set-role", email, "--role", "nonsense").exit_code != 0  # refused
    entries = entries_where(server, object=user.id)
    assert [e.action for e in entries] == [
        "user.create",
        "user.set_roles",
        "user.deactivate",
        "user.activate",
        "user.reset_password",
    ]
    assert {e.actor_kind for e in entries} == {"cli"}
    assert all(e.actor_name.startswith("cli:") for e in entries)
    assert entries[1].detail["roles"] == ["status_page_publisher"]
    text = repr([(e.summary, e.detail) for e in entries])
    assert PASSWORD not in text and new_password not in text and "argon2" not in text


def add_entries(server: LiveServer, actor: Actor, count: int, start: datetime) -> list[str]:
    """``count`` entries by ``actor``, one a minute from ``start``; returns their ids."""

    async def body(ctx: AppContext) -> list[str]:
        async with ctx.db.write() as session:
            for i in range(count):
                record(
                    session,
                    actor,
                    "component.update",
                    object_type="component",
                    object_id=f"component-{i}",
                    at=start + timedelta(minutes=i),
                    summary=f"entry number {i}",
                )
        async with ctx.db.read() as session:
            rows, _ = await list_entries(session, AuditFilter(actor=actor.name, limit=count))
        return [r.id for r in rows]

    return server.call(body)


def shown(html: str) -> list[str]:
    """The entries' summaries on a screen, top to bottom."""
    return re.findall(r"Summary </span>([^<]+)</td>", html)


def test_the_screen_lists_entries_newest_first_with_filters_and_older_entries(
    server: LiveServer,
) -> None:
    actor = Actor.cli(f"pager-{uuid.uuid4().hex[:6]}")
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    add_entries(server, actor, 55, start)
    console = signed_in(server, "viewer")  # any role may read it
    first = console.get("/admin/audit", params={"actor": actor.name})
    assert first.status_code == 200
    assert shown(first.text) == [f"entry number {i}" for i in range(54, 4, -1)]
    older = re.search(r'href="([^"]*)">Older entries</a>', first.text)
    assert older is not None
    second = console.get(older.group(1).replace("&amp;", "&"))
    assert shown(second.text) == [f"entry number {i}" for i in range(4, -1, -1)]
    assert "Older entries" not in second.text

    # The object filter: a type or an id.
    one = console.get("/admin/audit", params={"actor": actor.name, "object": "component-7"})
    assert shown(one.text) == ["entry number 7"]
    # Time, typed in a zone: 13:10 to 13:13 in Berlin (UTC+1 in March) is 12:10 to 12:13 UTC.
    timed = console.get(
        "/admin/audit",
        params={
            "actor": actor.name,
            "since": "2026-03-01T13:10",
            "until": "2026-03-01T13:13",
            "time_zone": "Europe/Berlin",
        },
    )
    assert shown(timed.text) == ["entry number 12", "entry number 11", "entry number 10"]
    bad = console.get("/admin/audit", params={"actor": actor.name, "since": "yesterday"})
    assert bad.status_code == 422
    assert 'id="field-since-error"' in bad.text and shown(bad.text) == []
    nobody = console.get("/admin/audit", params={"actor": "nobody@example.test"})
    assert "No entries match these filters." in nobody.text


def test_entries_link_to_the_objects_screen_and_filter_by_page(
    server: LiveServer, page: PageInfo
) -> None:
    console, email, name = publisher(server, "Linked")
    form = form_of(console, f"/admin/incidents/new?status_page_id={page.id}")
    assert (
        console.post("/admin/incidents/new", {**form, **declare_data(page, name)}).status_code
        == 303
    )
    [incident] = incidents_named(server, name)
    listed = console.get("/admin/audit", params={"actor": email, "page": page.id}).text
    assert f'href="/admin/incidents/{incident.id}"' in listed
    assert name in listed and '<span class="muted">on ' in listed
    other = make_page(server, components=1)
    elsewhere = console.get("/admin/audit", params={"actor": email, "page": other.id}).text
    assert name not in elsewhere
    # A user's entries name a user: no console screen, no link.
    assert console.get("/admin/audit", params={"object": "user"}).status_code == 200
