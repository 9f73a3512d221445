"""A component hidden on a page never shows there: not when an incident or a maintenance window
names it, on no public resource (HTML, JSON, feeds, calendar, badge, export) and in no
notification, neither by name nor by id."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from clarion.components.models import Component
from clarion.context import AppContext
from clarion.status_pages.models import StatusPage
from tests.contract.cli import cli_environment
from tests.factories import declare
from tests.harness import LiveServer
from tests.maintenances.helpers import create_window
from tests.subscribers.fixtures import mail_server, sink
from tests.subscribers.helpers import add_subscribers, create_incident, drain, sdk_for
from tests.subscribers.smtp_sink import SmtpSink

__all__ = ["mail_server", "sink"]

RESOURCES = (
    "",
    "/history",
    "/feed.atom",
    "/feed.rss",
    "/maintenance.ics",
    "/badge.svg",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
)


@dataclass
class Scene:
    slug: str
    page_id: str
    shown: tuple[str, str]  # (id, name)
    secrets: list[tuple[str, str]]  # hidden ones: on their own, and in a hidden group
    incident_id: str
    window_id: str
    reader: str

    def leaks(self, text: str) -> list[str]:
        return [v for pair in self.secrets for v in pair if v in text]


@pytest.fixture(scope="module")
def scene(mail_server: LiveServer, sink: SmtpSink) -> Iterator[Scene]:
    tag = uuid.uuid4().hex[:8]
    keys = {name: f"{name}-{tag}" for name in ("shown", "secret", "grouped")}
    names = {name: f"{name.title()} thing {tag}" for name in keys}
    slug = f"hidden-{tag}"
    declare(
        mail_server,
        {
            "components": [{"key": keys[n], "name": names[n]} for n in keys],
            "status_pages": [
                {
                    "slug": slug,
                    "name": f"Hidden {tag}",
                    "items": [
                        {"component": keys["shown"]},
                        {"component": {"key": keys["secret"], "hidden": True}},
                        {
                            "group": {
                                "name": "Internal",
                                "hidden": True,
                                "components": [keys["grouped"]],
                            }
                        },
                    ],
                }
            ],
        },
    )

    async def ids(ctx: AppContext) -> tuple[str, dict[str, str]]:
        async with ctx.db.read() as session:
            page_id = await session.scalar(select(StatusPage.id).where(StatusPage.slug == slug))
            rows = await session.execute(
                select(Component.key, Component.id).where(Component.key.in_(keys.values()))
            )
            assert page_id is not None
            return page_id, {key: cid for key, cid in rows}

    page_id, by_key = mail_server.call(ids)
    cid = {n: by_key[keys[n]] for n in keys}
    [reader] = add_subscribers(mail_server, page_id, 1, prefix="hidden")
    with sdk_for(mail_server) as sdk:
        incident = create_incident(
            sdk,
            page_id,
            "Errors everywhere",
            components={
                cid["shown"]: "degraded_performance",
                cid["secret"]: "full_outage",
                cid["grouped"]: "partial_outage",
            },
        )
        start = datetime.now(UTC) + timedelta(days=2)
        window = create_window(
            sdk, page_id, list(cid.values()), start, start + timedelta(hours=1), notify=True
        )
    drain(mail_server)
    yield Scene(
        slug=slug,
        page_id=page_id,
        shown=(cid["shown"], names["shown"]),
        secrets=[(cid["secret"], names["secret"]), (cid["grouped"], names["grouped"])],
        incident_id=incident.id,
        window_id=window.id,
        reader=reader,
    )


def test_no_public_resource_names_a_hidden_component(mail_server: LiveServer, scene: Scene) -> None:
    paths = [
        *RESOURCES,
        f"/incidents/{scene.incident_id}",
        f"/maintenance/{scene.window_id}",
        f"/history/{datetime.now(UTC):%Y-%m}",
    ]
    with httpx.Client(base_url=mail_server.base_url, timeout=30) as http:
        for path in paths:
            response = http.get(f"/{scene.slug}{path}", follow_redirects=True)
            assert response.status_code == 200, path
            assert scene.leaks(response.text) == [], path
        # The incident and the window are there, with their visible component.
        page = http.get(f"/{scene.slug}/incidents/{scene.incident_id}").text
        assert scene.shown[1] in page
        summary = http.get(f"/{scene.slug}/api/v2/summary.json").text
        assert scene.shown[0] in summary and scene.incident_id in summary
        assert scene.window_id in http.get(f"/{scene.slug}/maintenance.ics").text


def test_no_notification_names_a_hidden_component(sink: SmtpSink, scene: Scene) -> None:
    mails = sink.to(scene.reader)
    assert len(mails) == 2  # the incident and the window
    for mail in mails:
        assert scene.shown[1] in mail.text
        assert scene.leaks(mail.text) == [] and scene.leaks(mail.html) == []
        assert scene.leaks(str(mail.message["Subject"])) == []


def test_an_export_names_no_hidden_component(
    mail_server: LiveServer, scene: Scene, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clarion", "export", str(tmp_path), "--page", scene.slug],
        capture_output=True,
        text=True,
        env=cli_environment(
            mail_server.settings.database_url, CLARION_BASE_URL=mail_server.base_url
        ),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "index.html" for p in files)
    for path in files:
        assert scene.leaks(path.read_text(errors="replace")) == [], path
