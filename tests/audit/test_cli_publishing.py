"""``clarion incidents`` and ``clarion maintenance`` as an operator runs them (``python -m
clarion`` subprocesses on the live server's database): components by key, permalinks that the
live server serves, the API's validation as one-line errors, notifications with ``--notify``,
and an audit entry per write naming ``cli:<OS user>``."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import uuid

import httpx
from click.testing import CliRunner
from sqlalchemy import func, select

from clarion.cli.main import cli
from clarion.context import AppContext
from clarion.notifications.models import OutboxMessage
from clarion.notifications.webhooks import add_webhook
from tests.audit.helpers import entries_by
from tests.contract.checks import Raw
from tests.contract.cli import cli_environment
from tests.factories import OPERATOR, PageInfo, declare, make_page
from tests.harness import LiveServer

CLI_ACTOR = f"cli:{getpass.getuser()}"


def clarion(
    server: LiveServer,
    *args: str,
    check: bool = True,
    stdin: str | None = None,
    subprocess_: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``clarion ARGS`` on the live server's database with its base URL: in this process
    through click's runner, or as ``python -m clarion`` with ``subprocess_``."""
    environment = {
        "CLARION_DATABASE_URL": server.settings.database_url,
        "CLARION_BASE_URL": server.base_url,
    }
    if subprocess_:
        result = subprocess.run(
            [sys.executable, "-m", "clarion", *args],
            capture_output=True,
            text=True,
            input=stdin,
            env=cli_environment(server.settings.database_url, CLARION_BASE_URL=server.base_url),
            timeout=120,
            check=False,
        )
    else:
        ran = CliRunner().invoke(cli, list(args), input=stdin, env=environment)
        if ran.exception is not None and not isinstance(ran.exception, SystemExit):
            raise ran.exception
        result = subprocess.CompletedProcess(list(args), ran.exit_code, ran.stdout, ran.stderr)
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def _keys(page: PageInfo) -> list[str]:
    return sorted(page.components)


def test_an_incident_declared_updated_and_resolved_from_the_cli(
    server: LiveServer, page: PageInfo, raw: Raw
) -> None:
    first, second = _keys(page)[:2]
    created = clarion(
        server,
        "incidents",
        "create",
        "--page",
        page.slug,
        "--name",
        "Checkout errors",
        "--message",
        "We are **looking**.",
        "--component",
        f"{first}=partial_outage",
        "--component",
        f"{second}=degraded_performance",
        subprocess_=True,
    )
    permalink = created.stdout.strip()
    assert permalink.startswith(f"{server.base_url}/{page.slug}/incidents/")
    incident_id = permalink.rsplit("/", 1)[-1]
    assert "declared incident" in created.stderr
    public = httpx.get(permalink, timeout=30)
    assert public.status_code == 200 and "Checkout errors" in public.text

    shown = raw.get(f"/v2/status_page_incidents/{incident_id}").json()["status_page_incident"]
    impacts = {i["component_id"]: i["component_status"] for i in shown["component_impacts"]}
    assert impacts == {
        page.components[first]: "partial_outage",
        page.components[second]: "degraded_performance",
    }

    clarion(
        server,
        "incidents",
        "update",
        permalink,
        "--status",
        "identified",
        "--message",
        "-",
        "--component",
        f"{first}=full_outage",
        stdin="A bad deploy.\n\nRolling back.",
    )
    clarion(server, "incidents", "update", incident_id, "--name", "Checkout errors in EU")
    resolved = clarion(server, "incidents", "resolve", incident_id, "--json", subprocess_=True)
    body = json.loads(resolved.stdout)
    assert body["permalink"] == permalink
    incident = body["status_page_incident"]
    assert incident["incident_status"] == "resolved"
    assert incident["name"] == "Checkout errors in EU"
    assert [u["incident_status"] for u in incident["updates"]] == [
        "resolved",
        "identified",
        "investigating",
    ]
    assert incident["updates"][1]["message"] == "A bad deploy.\n\nRolling back."

    listing = clarion(server, "incidents", "list", "--page", page.slug).stdout
    assert "(times in Etc/UTC)" in listing
    (row,) = [line for line in listing.splitlines() if line.startswith(incident_id)]
    assert "resolved" in row and permalink in row and "Checkout errors in EU" in row
    listed = json.loads(clarion(server, "incidents", "list", "--page", page.id, "--json").stdout)
    assert listed["status_page_incidents"][0]["id"] == incident_id

    entries = [e for e in entries_by(server, CLI_ACTOR) if e.object_id == incident_id]
    assert [e.action for e in entries] == [
        "incident.create",
        "incident.update",
        "incident.rename",
        "incident.resolve",
    ]
    assert {(e.actor_kind, e.status_page_id) for e in entries} == {("cli", page.id)}


def test_the_cli_refuses_what_the_api_refuses_in_one_line_naming_the_option(
    server: LiveServer, page: PageInfo
) -> None:
    other = make_page(server, components=1)
    before = len(entries_by(server, CLI_ACTOR))
    base = ["incidents", "create", "--page", page.slug, "--message", "Down."]
    cases = {
        "--component nosuch: no component with this key or id": [
            *base,
            "--name",
            "X",
            "--component",
            "nosuch=partial_outage",
        ],
        "--name: name must be at most 200 characters long": [*base, "--name", "x" * 201],
        "--component": [*base, "--name", "X", "--component", f"{_keys(page)[0]}=on_fire"],
        "--page: no status page with slug or id 'no-such-page'": [
            "incidents",
            "create",
            "--page",
            "no-such-page",
            "--name",
            "X",
            "--message",
            "Y",
        ],
        "INCIDENT: No status page incident with this id": [
            "incidents",
            "resolve",
            "01NOSUCHINCIDENT",
        ],
    }
    for expected, args in cases.items():
        result = clarion(server, *args, check=False)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("Error: ") and expected in line, (expected, line)
    # A component that exists but is not on this page: the service's own check.
    result = clarion(
        server, *base, "--name", "X", "--component", f"{_keys(other)[0]}=full_outage", check=False
    )
    assert "This component is not on the status page" in result.stderr
    assert f"--component {_keys(other)[0]}" in result.stderr
    assert len(entries_by(server, CLI_ACTOR)) == before


def _outbox_rows(server: LiveServer, subject_id: str) -> int:
    async def body(ctx: AppContext) -> int:
        async with ctx.db.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.subject_id == subject_id)
            )
        return int(count or 0)

    return server.call(body)


def test_notify_queues_notifications_for_subscribers(server: LiveServer, page: PageInfo) -> None:
    async def subscribe(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await add_webhook(
                session,
                page=page.slug,
                url="https://hooks.example.com/clarion",
                components=[],
                allow_private=False,
                now=ctx.clock.now(),
                actor=OPERATOR,
            )

    server.call(subscribe)
    args = ["incidents", "create", "--page", page.slug, "--message", "Down."]
    quiet = clarion(server, *args, "--name", "Quiet").stdout.strip().rsplit("/", 1)[-1]
    loud = clarion(server, *args, "--name", "Loud", "--notify").stdout.strip().rsplit("/", 1)[-1]
    assert _outbox_rows(server, quiet) == 0
    assert _outbox_rows(server, loud) == 1


def test_an_idempotency_key_makes_a_retried_create_return_the_first_incident(
    server: LiveServer, page: PageInfo
) -> None:
    args = ["incidents", "create", "--page", page.slug, "--name", "Once", "--message", "Down."]
    key = ["--idempotency-key", uuid.uuid4().hex]
    first = clarion(server, *args, *key).stdout
    again = clarion(server, *args, *key).stdout
    assert first == again
    incident_id = first.strip().rsplit("/", 1)[-1]
    assert len([e for e in entries_by(server, CLI_ACTOR) if e.object_id == incident_id]) == 1


def test_maintenance_scheduled_updated_and_listed_from_the_cli(server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:8]
    slug = f"berlin-{tag}"
    keys = [f"db-{tag}", f"web-{tag}"]
    declare(
        server,
        {
            "components": [{"key": k, "name": k} for k in keys],
            "status_pages": [
                {
                    "slug": slug,
                    "name": "Berlin",
                    "time_zone": "Europe/Berlin",
                    "items": [{"component": k} for k in keys],
                }
            ],
        },
    )
    created = clarion(
        server,
        "maintenance",
        "create",
        "--page",
        slug,
        "--name",
        "Database upgrade",
        "--start",
        "2099-06-01T02:00:00+02:00",
        "--end",
        "2099-06-01T04:00:00+02:00",
        "--message",
        "Upgrading the database.",
        "--component",
        keys[0],
        "--component",
        keys[1],
    )
    permalink = created.stdout.strip()
    assert permalink.startswith(f"{server.base_url}/{slug}/maintenance/")
    window_id = permalink.rsplit("/", 1)[-1]
    assert httpx.get(permalink, timeout=30).status_code == 200

    clarion(
        server,
        "maintenance",
        "update",
        window_id,
        "--message",
        "Started early.",
        "--status",
        "in_progress",
        "--component",
        f"{keys[1]}=operational",
    )
    moved = clarion(
        server, "maintenance", "update", permalink, "--end", "2099-06-01T05:00+02:00", "--json"
    )
    window = json.loads(moved.stdout)["status_page_maintenance"]
    assert window["maintenance_status"] == "maintenance_in_progress"
    assert window["name"] == "Database upgrade"

    listing = clarion(server, "maintenance", "list", "--page", slug).stdout
    assert "(times in Europe/Berlin)" in listing
    (row,) = [line for line in listing.splitlines() if line.startswith(window_id)]
    assert "in_progress" in row
    assert "2099-06-01T02:00+02:00" in row and "2099-06-01T05:00+02:00" in row
    assert f"{keys[0]},{keys[1]}" in row and permalink in row

    no_offset = clarion(
        server, "maintenance", "update", window_id, "--start", "2099-06-01T01:00", check=False
    )
    assert no_offset.returncode == 2 and "has no offset" in no_offset.stderr

    entries = [e for e in entries_by(server, CLI_ACTOR) if e.object_id == window_id]
    assert [e.action for e in entries] == [
        "maintenance.create",
        "maintenance.update",
        "maintenance.reschedule",
    ]
    assert entries[0].detail["start_at"] == "2099-06-01T00:00:00.000000Z"
