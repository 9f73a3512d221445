"""No reminder for a window whose subscribers were told of its start within the reminder's
lead time (the "scheduled" notice was the reminder); windows told about well ahead, and
windows moved without telling anyone, are reminded about."""

from __future__ import annotations

from datetime import timedelta

from clarion.notifications.reminders import queue_reminders
from tests.factories import make_page
from tests.harness import LiveServer
from tests.notifications.test_outbox_maintenance import clock_restored, move, run, schedule
from tests.subscribers.fixtures import mail_server, sink
from tests.subscribers.helpers import add_subscribers, drain, outbox_rows
from tests.subscribers.smtp_sink import SmtpSink

__all__ = ["clock_restored", "mail_server", "sink"]


def subjects(sink: SmtpSink, reader: str) -> list[str]:
    return [str(m.message["Subject"]).split("] ", 1)[1] for m in sink.to(reader)]


def test_a_window_scheduled_ten_minutes_ahead_gets_no_reminder(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    assert mail_server.settings.maintenance_reminder_minutes == 60
    page = make_page(mail_server, components=1)
    [comp] = list(page.components.values())
    [reader] = add_subscribers(mail_server, page.id, 1)
    window = schedule(mail_server, page.id, [comp], timedelta(minutes=10), name="Short notice")
    run(mail_server, queue_reminders)
    mail_server.clock.offset += timedelta(minutes=5)
    run(mail_server, queue_reminders)  # still due by its start, still not reminded about
    drain(mail_server)
    assert subjects(sink, reader) == ["Scheduled: Short notice"]
    assert outbox_rows(mail_server, subject_id=window, kind="maintenance.reminder") == []


def test_a_window_scheduled_well_ahead_gets_one_reminder_within_the_lead_time(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    page = make_page(mail_server, components=1)
    [comp] = list(page.components.values())
    [reader] = add_subscribers(mail_server, page.id, 1)
    window = schedule(mail_server, page.id, [comp], timedelta(hours=3), name="Well ahead")
    drain(mail_server)
    assert run(mail_server, queue_reminders) == 0
    mail_server.clock.offset += timedelta(hours=2, minutes=5)  # 55 minutes before the start
    assert run(mail_server, queue_reminders) == 1
    drain(mail_server)
    assert subjects(sink, reader) == ["Scheduled: Well ahead", "Reminder: Well ahead starts soon"]
    assert len(outbox_rows(mail_server, subject_id=window, kind="maintenance.reminder")) == 1


def test_a_window_moved_without_notice_to_start_soon_is_reminded_about(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    """Moving a window (``PUT``) tells nobody, so the reminder is the first word of the new
    start, however close it is."""
    page = make_page(mail_server, components=1)
    [comp] = list(page.components.values())
    [reader] = add_subscribers(mail_server, page.id, 1)
    window = schedule(mail_server, page.id, [comp], timedelta(days=2), name="Moved")
    move(mail_server, window, timedelta(minutes=10), name="Moved")
    assert run(mail_server, queue_reminders) == 1
    drain(mail_server)
    assert subjects(sink, reader) == ["Scheduled: Moved", "Reminder: Moved starts soon"]
