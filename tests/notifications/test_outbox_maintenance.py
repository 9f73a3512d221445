"""Maintenance windows through the outbox: scheduling notifies (when asked), one reminder per
window before it starts, automated moves notify when the window was created with notify."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance as create_maintenance_api,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_maintenance as update_maintenance_api,
)
from incident_io.models import (
    StatusPagesCreateStatusPageMaintenancePayloadV2,
    StatusPagesCreateStatusPageMaintenancePayloadV2MaintenanceStatus,
    StatusPagesUpdateStatusPageMaintenancePayloadV2,
)

from clarion.context import AppContext
from clarion.maintenances.automation import automate_maintenance_status
from clarion.notifications.reminders import queue_reminders
from tests.factories import make_page
from tests.harness import LiveServer
from tests.subscribers.fixtures import mail_server, sink
from tests.subscribers.helpers import add_subscribers, drain, outbox_rows, sdk_for
from tests.subscribers.smtp_sink import SmtpSink

__all__ = ["mail_server", "sink"]


@pytest.fixture
def clock_restored(mail_server: LiveServer) -> Iterator[None]:
    saved = mail_server.clock.offset
    try:
        yield
    finally:
        mail_server.clock.offset = saved


def schedule(
    server: LiveServer,
    page_id: str,
    components: list[str],
    starts_in: timedelta,
    *,
    notify: bool = True,
    automate: bool = False,
    name: str = "Database upgrade",
) -> str:
    start = datetime.now(UTC) + server.clock.offset + starts_in
    with sdk_for(server) as sdk:
        response = create_maintenance_api.sync_detailed(
            client=sdk,
            body=StatusPagesCreateStatusPageMaintenancePayloadV2(
                status_page_id=page_id,
                name=name,
                message="We will upgrade the **database**.",
                maintenance_status=StatusPagesCreateStatusPageMaintenancePayloadV2MaintenanceStatus.MAINTENANCE_SCHEDULED,
                start_at=start,
                end_at=start + timedelta(hours=1),
                affected_component_ids=components,
                notify_subscribers=notify,
                automate_maintenance_status=automate,
                idempotency_key=str(uuid.uuid4()),
            ),
        )
    assert response.status_code == 201, response.content
    return str(response.parsed.status_page_maintenance.id)


def move(
    server: LiveServer, window_id: str, starts_in: timedelta, name: str = "Database upgrade"
) -> None:
    """Reschedule a window with ``PUT`` (which tells no one) to start ``starts_in`` from now
    and last an hour."""
    start = datetime.now(UTC) + server.clock.offset + starts_in
    with sdk_for(server) as sdk:
        moved = update_maintenance_api.sync_detailed(
            window_id,
            client=sdk,
            body=StatusPagesUpdateStatusPageMaintenancePayloadV2(
                name=name, start_at=start, end_at=start + timedelta(hours=1)
            ),
        )
    assert moved.status_code == 200, moved.content


def run(server: LiveServer, job: object) -> int:
    async def body(ctx: AppContext) -> int:
        return await job(ctx)  # type: ignore[operator, no-any-return]

    return server.call(body)


def test_scheduling_a_window_with_notify_mails_the_affected_components_subscribers(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server, components=2)
    api, web = list(page.components.values())
    [whole] = add_subscribers(mail_server, page.id, 1)
    [api_reader] = add_subscribers(mail_server, page.id, 1, components=[api])
    [web_reader] = add_subscribers(mail_server, page.id, 1, components=[web])
    schedule(mail_server, page.id, [api], timedelta(days=2))
    schedule(mail_server, page.id, [api], timedelta(days=3), notify=False, name="Quiet one")
    drain(mail_server)
    assert [m.message["Subject"].rsplit(": ", 1)[1] for m in sink.to(whole)] == ["Database upgrade"]
    assert "Scheduled" in sink.to(api_reader)[0].message["Subject"]
    assert "<strong>database</strong>" in sink.to(api_reader)[0].html
    assert sink.to(web_reader) == []


def test_one_reminder_per_window_goes_out_within_the_lead_time_and_again_after_a_reschedule(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    lead = mail_server.settings.maintenance_reminder_minutes
    page = make_page(mail_server, components=1)
    [comp] = list(page.components.values())
    [reader] = add_subscribers(mail_server, page.id, 1)
    maintenance_id = schedule(mail_server, page.id, [comp], timedelta(minutes=lead + 30))
    drain(mail_server)
    assert len(sink.to(reader)) == 1  # the scheduling notice

    assert run(mail_server, queue_reminders) == 0  # not within the lead time yet
    mail_server.clock.offset += timedelta(minutes=31)
    assert run(mail_server, queue_reminders) >= 1
    assert run(mail_server, queue_reminders) == 0  # exactly once per window
    drain(mail_server)
    mails = sink.to(reader)
    assert len(mails) == 2
    assert mails[1].message["Subject"].startswith("[Page")
    assert "Reminder: Database upgrade starts soon" in mails[1].message["Subject"]
    assert mails[1].message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Window: " in mails[1].text

    # Moving the window makes it a new one: it is reminded about again.
    move(mail_server, maintenance_id, timedelta(minutes=10))
    assert run(mail_server, queue_reminders) >= 1
    drain(mail_server)
    assert len(sink.to(reader)) == 3
    reminders = outbox_rows(mail_server, subject_id=maintenance_id, kind="maintenance.reminder")
    assert len(reminders) == 2


def test_automated_moves_notify_when_the_window_was_created_with_notify(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    page = make_page(mail_server, components=1)
    [comp] = list(page.components.values())
    [reader] = add_subscribers(mail_server, page.id, 1)
    loud = schedule(mail_server, page.id, [comp], timedelta(hours=3), automate=True, name="Loud")
    quiet = schedule(
        mail_server, page.id, [comp], timedelta(hours=3), automate=True, notify=False, name="Quiet"
    )
    mail_server.clock.offset += timedelta(hours=3, minutes=5)
    run(mail_server, automate_maintenance_status)
    drain(mail_server)
    subjects = [m.message["Subject"] for m in sink.to(reader)]
    assert any("In progress: Loud" in s for s in subjects), subjects
    assert not any("Quiet" in s for s in subjects)
    assert outbox_rows(mail_server, subject_id=quiet) == []
    assert len(outbox_rows(mail_server, subject_id=loud)) == 2
