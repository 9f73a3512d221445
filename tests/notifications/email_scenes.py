"""One story that sends every kind of notification e-mail, on a page in New York's time zone,
with the clock pinned so the times in the mails are known: an incident (created, updated,
resolved), a maintenance window (scheduled, updated, reminded about, started, completed) and a
subscription confirmation. Shared by the content and the browser tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_incident_update as create_update_api,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance_update as maintenance_update_api,
)
from incident_io.models import (
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
    StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
)
from sqlalchemy import select

from clarion.components.models import Component
from clarion.context import AppContext
from clarion.maintenances.automation import automate_maintenance_status
from clarion.notifications.reminders import queue_reminders
from clarion.status_pages.models import StatusPage
from tests.factories import declare
from tests.harness import LiveServer
from tests.maintenances.helpers import create_window
from tests.subscribers.helpers import (
    add_subscribers,
    create_incident,
    drain,
    sdk_for,
    subscribe,
)
from tests.subscribers.smtp_sink import Received, SmtpSink

ZONE = "America/New_York"
#: The moment the story starts: 21:00 on Friday 4 December in New York.
T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
LONG_COMPONENT = "Europe West (Frankfurt) object storage and content delivery edge network"
INCIDENT = "Card payments time out on payments-gateway.eu-central-1.internal.example.com"
WINDOW = "Database upgrade"
WINDOW_START = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)  # Sun 6 Dec 2026, 02:00 EST
WINDOW_END = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)  # 04:30 EST


@dataclass
class Story:
    slug: str
    page_id: str
    components: dict[str, str]  # name -> id
    incident_id: str
    maintenance_id: str
    reader: str
    mails: dict[str, Received]  # outbox kind -> the reader's e-mail of that kind


def at(server: LiveServer, moment: datetime) -> None:
    """Pin the server's clock to ``moment`` (it keeps running from there)."""
    server.clock.offset = moment - datetime.now(UTC)


def _page(server: LiveServer) -> tuple[str, str, dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    names = {"api": "API", "storage": LONG_COMPONENT, "dashboard": "Dashboard"}
    declare(
        server,
        {
            "components": [{"key": f"{k}-{tag}", "name": n} for k, n in names.items()],
            "status_pages": [
                {
                    "slug": f"acme-{tag}",
                    "name": "Acme Cloud",
                    "time_zone": ZONE,
                    "items": [{"component": f"{k}-{tag}"} for k in names],
                }
            ],
        },
    )

    async def body(ctx: AppContext) -> tuple[str, dict[str, str]]:
        async with ctx.db.read() as session:
            page_id = await session.scalar(
                select(StatusPage.id).where(StatusPage.slug == f"acme-{tag}")
            )
            found = await session.scalars(
                select(Component).where(Component.key.in_([f"{k}-{tag}" for k in names]))
            )
            return str(page_id), {c.name: c.id for c in found}

    page_id, components = server.call(body)
    return f"acme-{tag}", page_id, components


def _incident_update(sdk: AuthenticatedClient, incident_id: str, status: str, message: str) -> None:
    response = create_update_api.sync_detailed(
        client=sdk,
        body=StatusPagesCreateStatusPageIncidentUpdatePayloadV2(
            status_page_incident_id=incident_id,
            message=message,
            notify_subscribers=True,
            incident_status=StatusPagesCreateStatusPageIncidentUpdatePayloadV2IncidentStatus(
                status
            ),
        ),
    )
    assert response.status_code == 201, response.content


def _run(server: LiveServer, job: object) -> int:
    async def body(ctx: AppContext) -> int:
        return await job(ctx)  # type: ignore[operator, no-any-return]

    return server.call(body)


def _only(sink: SmtpSink, reader: str, seen: int) -> Received:
    mails = sink.to(reader)
    assert len(mails) == seen + 1, [m.message["Subject"] for m in mails]
    return mails[-1]


def tell_the_story(server: LiveServer, sink: SmtpSink) -> Story:
    """Every kind of e-mail to one whole-page subscriber, in order; the clock is left moved
    (callers restore it)."""
    slug, page_id, components = _page(server)
    [reader] = add_subscribers(server, page_id, 1)
    api, storage = components["API"], components[LONG_COMPONENT]
    mails: dict[str, Received] = {}

    def collect(kind: str) -> None:
        drain(server)
        mails[kind] = _only(sink, reader, len(mails))

    with sdk_for(server) as sdk:
        at(server, T0)
        incident = create_incident(
            sdk,
            page_id,
            INCIDENT,
            "Card payments **time out** for some customers. See [our notes]"
            "(https://example.com/notes/payments-gateway-eu-central-1-timeouts-and-retries).",
            components={api: "full_outage", storage: "degraded_performance"},
        )
        incident_id = str(incident.id)
        collect("incident.created")
        at(server, T0 + timedelta(minutes=25))
        _incident_update(sdk, incident_id, "identified", "A certificate expired; renewing it.")
        collect("incident.updated")
        at(server, T0 + timedelta(minutes=95))
        _incident_update(sdk, incident_id, "resolved", "Payments work again.")
        collect("incident.resolved")

        at(server, T0 + timedelta(hours=2))
        maintenance_id = str(
            create_window(
                sdk,
                page_id,
                [api, components["Dashboard"]],
                WINDOW_START,
                WINDOW_END,
                automate=True,
                notify=True,
                name=WINDOW,
                message="We will upgrade the **primary database** to a new major version.",
            ).id
        )
        collect("maintenance.scheduled")
        at(server, T0 + timedelta(hours=3))
        response = maintenance_update_api.sync_detailed(
            client=sdk,
            body=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2(
                status_page_maintenance_id=maintenance_id,
                message="The dashboard will be read-only during the window.",
                notify_subscribers=True,
            ),
        )
        assert response.status_code == 201, response.content
        collect("maintenance.updated")

    at(server, WINDOW_START - timedelta(minutes=50))
    _run(server, queue_reminders)
    collect("maintenance.reminder")
    at(server, WINDOW_START + timedelta(seconds=30))
    _run(server, automate_maintenance_status)
    collect("maintenance.started")
    at(server, WINDOW_END + timedelta(seconds=30))
    _run(server, automate_maintenance_status)
    collect("maintenance.completed")

    confirm_to = f"new-{uuid.uuid4().hex[:8]}@example.test"
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        answer = subscribe(http, slug, confirm_to)
        assert answer.status_code == 200, answer.text
    drain(server)
    [mails["subscription.confirm"]] = sink.to(confirm_to)
    return Story(slug, page_id, components, incident_id, maintenance_id, reader, mails)


@pytest.fixture(scope="module")
def story(mail_server: LiveServer, sink: SmtpSink) -> Iterator[Story]:
    """The story, told once per module; the clock is put back afterwards."""
    saved = mail_server.clock.offset
    try:
        yield tell_the_story(mail_server, sink)
    finally:
        mail_server.clock.offset = saved
