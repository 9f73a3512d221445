"""Control characters: refused in every text field (API, ``clarion apply``), never written into
a feed, a calendar or a badge (even when stored some other way), and escaped in CLI output."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
import yaml
from click.testing import CliRunner
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident as create_incident,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentPayloadV2,
    StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus,
)
from sqlalchemy import update

from clarion.cli.main import cli
from clarion.context import AppContext
from clarion.ids import new_id
from clarion.incidents.models import Incident, IncidentUpdate
from clarion.maintenances.models import Maintenance
from clarion.notifications.models import OutboxMessage
from clarion.status_pages.models import StatusPage
from clarion.status_pages.versions import touch_page
from clarion.subscribers.models import EMAIL, Subscription
from clarion.text import ical_safe, one_line, terminal_safe, text_problem, xml_safe
from tests.contract.checks import Raw, error_codes
from tests.contract.cli import run_cli
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer
from tests.http.request_samples import Field, fields, send_with
from tests.maintenances.helpers import create_window

#: Characters no text field takes (a line feed and a tab only where several lines are allowed).
CONTROLS = ("\x01", "\x07", "\x0b", "\x1b", "\x7f", "\x85", "\ufffe")
#: What a stored value may hold that an XML or iCalendar writer must not write as it is
#: (PostgreSQL stores no NUL, so neither test backend ever has one).
STORED_CONTROLS = "\x01\x08\x0b\x0c\x1b[31m\x1f\ufffe"


def is_text(target: Field) -> bool:
    schema = target.schema
    return (
        target.where == "body"
        and schema.get("type") == "string"
        and "enum" not in schema
        and not target.is_timestamp
    )


TEXT_FIELDS = [f for f in fields() if is_text(f)]


def test_the_text_fields_are_found_in_the_document() -> None:
    names = {(f.operation_id, f.name) for f in TEXT_FIELDS}
    assert ("StatusPagesV2_CreateStatusPageIncident", "name") in names
    assert ("StatusPagesV2_CreateStatusPageIncident", "message") in names
    assert ("StatusPagesV2_CreateStatusPageMaintenance", "name") in names
    assert ("StatusPageComponentsV2_Create", "description") in names or any(
        n == "description" for _op, n in names
    )


@pytest.mark.parametrize("target", TEXT_FIELDS, ids=str)
def test_a_control_character_in_any_text_field_is_invalid_value_at_its_pointer(
    raw: Raw, page: PageInfo, target: Field
) -> None:
    response = send_with(raw, page, target, "bad\x1b[2Jtext")
    assert response.status_code == 422, response.text
    assert ("invalid_value", target.name, target.pointer) in error_codes(response)
    assert "control characters (U+001B at position 3)" in response.text


def incident(page: PageInfo, **changes: Any) -> dict[str, Any]:
    body = {
        "status_page_id": page.id,
        "name": "Latency",
        "incident_status": "investigating",
        "message": "We are looking.",
        "notify_subscribers": False,
        "idempotency_key": uuid.uuid4().hex,
    }
    body.update(changes)
    return body


def test_messages_keep_tabs_and_line_breaks_and_names_do_not(raw: Raw, page: PageInfo) -> None:
    created = raw.post(
        "/v2/status_page_incidents", json=incident(page, message="Line one\r\n\tLine two\n")
    )
    assert created.status_code == 201, created.text
    for name in ("Two\nlines", "Tab\there"):
        response = raw.post("/v2/status_page_incidents", json=incident(page, name=name))
        assert response.status_code == 422
        assert error_codes(response) == [("invalid_value", "name", "/name")]
    for control in CONTROLS:
        response = raw.post(
            "/v2/status_page_incidents", json=incident(page, message=f"a{control}b")
        )
        assert response.status_code == 422, repr(control)
        assert error_codes(response) == [("invalid_value", "message", "/message")]


def test_the_sdk_gets_the_422_envelope_for_a_control_character(
    sdk: AuthenticatedClient, page: PageInfo
) -> None:
    response = create_incident.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentPayloadV2(
            status_page_id=page.id,
            name="Bell\x07",
            incident_status=StatusPagesCreateStatusPageIncidentPayloadV2IncidentStatus.INVESTIGATING,
            message="m",
            notify_subscribers=False,
            idempotency_key=uuid.uuid4().hex,
        ),
    )
    assert response.status_code == 422
    body = httpx.Response(422, content=response.content).json()
    assert body["type"] == "validation_error"
    [error] = body["errors"]
    assert error["code"] == "invalid_value"
    assert error["source"] == {"field": "name", "pointer": "/name"}


def test_clarion_apply_refuses_control_characters_saying_where(
    server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    declaration = {
        "components": [{"key": f"api-{tag}", "name": "API\x1b[31m"}],
        "status_pages": [
            {"slug": f"p-{tag}", "name": "Page", "description": "ok\nok\x07", "items": []}
        ],
    }
    path = tmp_path / "pages.yaml"
    path.write_text(yaml.safe_dump(declaration, allow_unicode=True))
    result = run_cli(server.settings.database_url, "apply", str(path), check=False)
    assert result.returncode != 0
    assert "components[0].name" in result.stderr
    assert "U+001B" in result.stderr
    assert "status_pages[0].description" in result.stderr
    assert "U+0007" in result.stderr


def store_controls(server: LiveServer, page: PageInfo, incident_id: str, window_id: str) -> None:
    """Put control characters into the page's name and the incident's and the window's text,
    straight into the database (as an older version or another tool could have)."""

    async def body(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await session.execute(
                update(Incident)
                .where(Incident.id == incident_id)
                .values(name=f"Down {STORED_CONTROLS}")
            )
            await session.execute(
                update(IncidentUpdate)
                .where(IncidentUpdate.incident_id == incident_id)
                .values(message=f"Message {STORED_CONTROLS}")
            )
            await session.execute(
                update(Maintenance)
                .where(Maintenance.id == window_id)
                .values(name=f"Window {STORED_CONTROLS}")
            )
            await session.execute(
                update(StatusPage)
                .where(StatusPage.id == page.id)
                .values(name=f"Page {STORED_CONTROLS}")
            )
            touch_page(session, page.id, ctx.clock.now())

    server.call(body)


def test_feeds_calendars_and_badges_stay_well_formed_whatever_is_stored(
    server: LiveServer, raw: Raw, sdk: AuthenticatedClient
) -> None:
    page = make_page(server, components=1)
    created = raw.post("/v2/status_page_incidents", json=incident(page))
    assert created.status_code == 201, created.text
    start = datetime(2030, 1, 1, 10, tzinfo=UTC)
    components = list(page.components.values())
    window = create_window(sdk, page.id, components, start, start + timedelta(hours=1))
    store_controls(server, page, created.json()["status_page_incident"]["id"], window.id)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for path in ("feed.atom", "feed.rss"):
            body = http.get(f"/{page.slug}/{path}").content
            ET.fromstring(body)  # a strict XML parser: raises on any character XML cannot hold
            parsed = feedparser.parse(body)
            assert not parsed.bozo, (path, parsed.get("bozo_exception"))
            assert "Down" in parsed.entries[-1].title or "Down" in parsed.entries[0].title
            assert "\ufffd" in body.decode()
        badge = http.get(f"/{page.slug}/badge.svg").content
        ET.fromstring(badge)
        calendar = http.get(f"/{page.slug}/maintenance.ics").content
        assert b"Window" in calendar
        bad = [b for b in calendar if b < 0x20 and b not in (0x0D, 0x0A)]
        assert bad == [], bad


def test_cli_lists_print_addresses_and_errors_escaped(server: LiveServer) -> None:
    page = make_page(server, components=1)
    nasty = "evil\x1b]0;owned\x07\x1b[2J\u202e@example.com"

    async def body(ctx: AppContext) -> None:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            subscription = Subscription(
                id=new_id(),
                status_page_id=page.id,
                channel=EMAIL,
                email=nasty,
                component_ids=[],
                consecutive_failures=0,
                confirmations_sent=0,
                confirmed_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(subscription)
            await session.flush()
            session.add(
                OutboxMessage(
                    id=new_id(),
                    subscription_id=subscription.id,
                    channel=EMAIL,
                    kind="incident.created",
                    subject_id=new_id(),
                    update_id=None,
                    payload={},
                    dedupe_key=new_id(),
                    status="failed",
                    attempts=1,
                    next_attempt_at=now,
                    created_at=now,
                    last_error=f"550 no such user {nasty}",
                )
            )

    server.call(body)
    env = {"CLARION_DATABASE_URL": server.settings.database_url}
    for args in (["subscribers", "list", "--page", page.slug], ["outbox", "list"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        assert "evil\\x1b]0;owned\\x07\\x1b[2J\\u202e@example.com" in result.stdout, args
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "\u202e" not in result.stdout


def test_the_shared_helpers() -> None:
    assert text_problem("fine\tnot", multiline=True) is None
    assert text_problem("fine\tnot") == "must not contain control characters (U+0009 at position 4)"
    assert text_problem("a\ud800", multiline=True) is not None
    assert xml_safe("a\x00b\tc\x1bd\ufffe") == "a\ufffdb\tc\ufffdd\ufffd"
    assert ical_safe("a\x7fb\nc\x1b") == "a\ufffdb\nc\ufffd"
    assert terminal_safe("a\\b\x1b[1m\u2066") == "a\\\\b\\x1b[1m\\u2066"
    assert one_line("Subject\r\nBcc: x\x1b[0m\x00 end") == "Subject Bcc: x [0m end"
