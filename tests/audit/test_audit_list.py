"""``clarion audit list``: filters by actor, object and time, one printable line per entry,
``--json``; and no secret ever reaches the audit log."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import select

from clarion.audit.models import AuditEntry
from clarion.context import AppContext
from clarion.timeutil import format_ts
from tests.audit.helpers import entries_by, named_key
from tests.audit.test_api_audit import incident_body
from tests.audit.test_cli_publishing import CLI_ACTOR, clarion
from tests.contract.checks import Raw
from tests.factories import PageInfo
from tests.harness import LiveServer


def test_audit_list_filters_by_actor_object_and_time(server: LiveServer, page: PageInfo) -> None:
    name, token = named_key(server)
    writer = Raw(server.base_url, token)
    try:
        hostile = "Evil \x1b[31mred\x1b[0m\nsecond line \u202eesrever"
        created = writer.post("/v2/status_page_incidents", json=incident_body(page, name=hostile))
        incident_id = created.json()["status_page_incident"]["id"]
        writer.put(f"/v2/status_page_incidents/{incident_id}", json={"name": "Plain"})
        component = writer.post("/v2/status_page_components", json={"name": "Audited part"})
        component_id = component.json()["status_page_component"]["id"]
    finally:
        writer.close()

    mine = clarion(server, "audit", "list", "--actor", name).stdout.splitlines()
    assert len(mine) == 3
    assert "\x1b" not in "".join(mine) and "\u202e" not in "".join(mine)
    newest, renamed, declared = mine
    assert f"  {name}  component.create  component {component_id}" in newest
    assert f"  {name}  incident.rename  incident {incident_id}  page={page.id}" in renamed
    assert "\\x1b[31mred" in declared and "\\u202e" in declared
    occurred = entries_by(server, name)[0].occurred_at
    assert declared.startswith(format_ts(occurred, "seconds") + "  ")

    by_object = clarion(server, "audit", "list", "--object", incident_id).stdout.splitlines()
    assert [line.split("  ")[2] for line in by_object] == ["incident.rename", "incident.create"]
    by_type = clarion(server, "audit", "list", "--actor", name, "--object", "component")
    assert [line.split("  ")[2] for line in by_type.stdout.splitlines()] == ["component.create"]

    on_page = clarion(server, "audit", "list", "--actor", name, "--page", page.slug)
    assert [line.split("  ")[2] for line in on_page.stdout.splitlines()] == [
        "incident.rename",
        "incident.create",
    ]
    no_page = clarion(server, "audit", "list", "--page", "no-such-page", check=False)
    assert no_page.returncode == 1 and "--page: no status page" in no_page.stderr

    later = format_ts(server.clock.now() + timedelta(hours=1))
    assert clarion(server, "audit", "list", "--actor", name, "--since", later).stdout == ""
    until = clarion(server, "audit", "list", "--actor", name, "--until", later, "--limit", "2")
    assert len(until.stdout.splitlines()) == 2 and "more than 2" in until.stderr
    bad = clarion(server, "audit", "list", "--since", "yesterday", check=False)
    assert bad.returncode == 2 and "--since" in bad.stderr

    document = json.loads(clarion(server, "audit", "list", "--actor", name, "--json").stdout)
    assert [e["action"] for e in document] == [
        "component.create",
        "incident.rename",
        "incident.create",
    ]
    assert document[2]["actor"] == {
        "kind": "api_key",
        "id": entries_by(server, name)[0].actor_id,
        "name": name,
    }
    assert document[2]["object"] == {"type": "incident", "id": incident_id}
    assert document[2]["detail"]["name"] == hostile


def _everything_recorded(server: LiveServer) -> str:
    async def body(ctx: AppContext) -> str:
        async with ctx.db.read() as session:
            rows = (await session.scalars(select(AuditEntry))).all()
        return "\n".join(json.dumps([r.summary, r.detail, r.object_id]) for r in rows)

    return server.call(body)


def test_no_secret_reaches_the_audit_log(server: LiveServer, page: PageInfo) -> None:
    url = f"https://user-token-{uuid.uuid4().hex}@hooks.example.com/in?token=sekrit"
    name = f"cli-key-{uuid.uuid4().hex[:6]}"
    token = clarion(server, "keys", "create", "--name", name, "--role", "viewer").stdout.strip()
    clean_url = "https://hooks.example.com/in?token=sekrit-query"
    secret = clarion(server, "subscribers", "add-webhook", "--page", page.slug, clean_url)
    subscription_id = secret.stderr.split()[-1]
    rotated = clarion(server, "subscribers", "rotate-webhook-secret", subscription_id)
    clarion(server, "keys", "revoke", name)
    refused = clarion(server, "subscribers", "add-webhook", "--page", page.slug, url, check=False)
    assert refused.returncode == 1

    recorded = _everything_recorded(server)
    for value in (token, secret.stdout.strip(), rotated.stdout.strip(), "sekrit"):
        assert value and value not in recorded
    actions = [
        (e.action, e.object_type)
        for e in entries_by(server, CLI_ACTOR)
        if e.object_id == subscription_id or e.detail.get("name") == name
    ]
    assert actions == [
        ("api_key.create", "api_key"),
        ("webhook.add", "webhook"),
        ("webhook.rotate_secret", "webhook"),
        ("api_key.revoke", "api_key"),
    ]
