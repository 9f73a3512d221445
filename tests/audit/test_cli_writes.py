"""Every write command of the CLI records its entries as ``cli:<OS user>``: ``apply`` (one per
component and page that changed, none when nothing did), the webhook commands and ``outbox
retry``."""

from __future__ import annotations

import uuid
from pathlib import Path

from clarion.context import AppContext
from clarion.ids import new_id
from clarion.notifications.models import DEAD, OutboxMessage
from tests.audit.helpers import entries_by
from tests.audit.test_cli_publishing import CLI_ACTOR, clarion
from tests.factories import PageInfo
from tests.harness import LiveServer


def _mine(server: LiveServer, before: int) -> list[tuple[str, str]]:
    return [(e.action, e.object_type) for e in entries_by(server, CLI_ACTOR)[before:]]


def test_apply_records_what_changed_and_nothing_when_nothing_did_or_on_a_dry_run(
    server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    declaration = tmp_path / "pages.yaml"
    declaration.write_text(
        f"components:\n  - {{key: a-{tag}, name: A}}\n  - {{key: b-{tag}, name: B}}\n"
        f"status_pages:\n  - slug: applied-{tag}\n    name: Applied\n"
        f"    items:\n      - component: a-{tag}\n"
    )
    before = len(entries_by(server, CLI_ACTOR))
    clarion(server, "apply", str(declaration))
    assert _mine(server, before) == [
        ("component.apply", "component"),
        ("component.apply", "component"),
        ("page.apply", "status_page"),
    ]
    page_entry = entries_by(server, CLI_ACTOR)[-1]
    assert page_entry.detail["changes"][0] == f"created status page applied-{tag}"
    before = len(entries_by(server, CLI_ACTOR))
    clarion(server, "apply", str(declaration))
    # A dry run makes its changes and rolls them back: their entries go with them.
    declaration.write_text(declaration.read_text().replace("name: B", "name: Bee"))
    dry = clarion(server, "apply", "--dry-run", str(declaration))
    assert f"updated component b-{tag}: name" in dry.stdout
    assert _mine(server, before) == []


def test_webhook_commands_and_outbox_retry_record_their_entries(
    server: LiveServer, page: PageInfo
) -> None:
    before = len(entries_by(server, CLI_ACTOR))
    added = clarion(
        server, "subscribers", "add-webhook", "--page", page.slug, "https://hooks.example.com/x"
    )
    subscription_id = added.stderr.split()[-1]
    clarion(server, "subscribers", "enable-webhook", subscription_id)
    dead_id = new_id()

    async def dead_row(ctx: AppContext) -> None:
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            session.add(
                OutboxMessage(
                    id=dead_id,
                    subscription_id=subscription_id,
                    channel="webhook",
                    kind="incident.created",
                    subject_id=new_id(),
                    update_id=None,
                    payload={},
                    dedupe_key=f"{subscription_id}:{dead_id}",
                    status=DEAD,
                    attempts=8,
                    next_attempt_at=now,
                    created_at=now,
                )
            )

    server.call(dead_row)
    clarion(server, "outbox", "retry", dead_id)
    clarion(server, "subscribers", "remove-webhook", subscription_id)
    entries = entries_by(server, CLI_ACTOR)[before:]
    assert [(e.action, e.object_id) for e in entries] == [
        ("webhook.add", subscription_id),
        ("webhook.enable", subscription_id),
        ("outbox.retry", dead_id),
        ("webhook.remove", subscription_id),
    ]
    assert entries[0].detail == {"url": "https://hooks.example.com/x", "component_ids": []}
    assert entries[2].detail["count"] == 1
