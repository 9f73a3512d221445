"""Outbox delivery outcomes against a real SMTP server: a relay refusing (421) or down pauses
delivery and is held against no one, a 4xx refusal waits without counting, a message is given
up only at the maximum age or on a permanent refusal, subscriptions are disabled after a run of
permanent refusals, and a repeated fan-out queues nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from clarion.context import AppContext
from clarion.events import DomainEvent
from clarion.notifications.outbox import backoff
from clarion.subscribers.models import Subscription
from tests.factories import make_page
from tests.harness import LiveServer, free_port, fresh_database, live_server
from tests.subscribers.fixtures import mail_server, sink
from tests.subscribers.helpers import (
    add_subscribers,
    create_incident,
    drain,
    outbox_rows,
    sdk_for,
)
from tests.subscribers.smtp_sink import SmtpSink

__all__ = ["mail_server", "sink"]


@pytest.fixture
def clock_restored(mail_server: LiveServer) -> Iterator[None]:
    saved = mail_server.clock.offset
    try:
        yield
    finally:
        mail_server.clock.offset = saved


def subscription_of(server: LiveServer, email: str) -> Subscription:
    from sqlalchemy import select

    async def body(ctx: AppContext) -> Subscription:
        async with ctx.db.read() as session:
            found = await session.scalar(select(Subscription).where(Subscription.email == email))
            assert found is not None
            return found

    return server.call(body)


def test_a_relay_answering_421_pauses_delivery_and_the_message_goes_when_it_answers_again(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    page = make_page(mail_server)
    [reader] = add_subscribers(mail_server, page.id, 1)
    sink.down = True
    try:
        with sdk_for(mail_server) as sdk:
            incident = create_incident(sdk, page.id, "Mail trouble")
        assert drain(mail_server) == 1
        [row] = outbox_rows(mail_server, subject_id=incident.id)
        assert row.status == "pending"
        assert row.attempts == 1
        assert "421" in (row.last_error or "")
        # Due again when the relay's pause ends (a second at first), whatever the backoff.
        assert row.next_attempt_at <= mail_server.clock.now() + timedelta(seconds=2)
        assert drain(mail_server) == 0  # paused
        subscription = subscription_of(mail_server, reader)
        assert subscription.consecutive_failures == 0
        assert subscription.disabled_at is None
    finally:
        sink.down = False
    mail_server.clock.offset += timedelta(minutes=5)
    assert drain(mail_server) == 1
    [row] = outbox_rows(mail_server, subject_id=incident.id)
    assert row.status == "sent" and row.attempts == 2 and row.sent_at is not None
    assert len(sink.to(reader)) == 1


def test_a_message_the_relay_keeps_refusing_waits_until_the_maximum_age(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    page = make_page(mail_server)
    [reader] = add_subscribers(mail_server, page.id, 1)
    attempts = mail_server.settings.outbox_max_attempts + 2
    sink.down = True
    try:
        with sdk_for(mail_server) as sdk:
            incident = create_incident(sdk, page.id, "Never arrives")
        for _ in range(attempts):
            drain(mail_server)
            mail_server.clock.offset += timedelta(hours=1)
        [row] = outbox_rows(mail_server, subject_id=incident.id)
        assert (row.status, row.attempts) == ("pending", attempts)  # past the last attempt
        mail_server.clock.offset += timedelta(hours=mail_server.settings.outbox_max_age_hours)
        drain(mail_server)
        [row] = outbox_rows(mail_server, subject_id=incident.id)
        assert row.status == "dead"
        assert "given up: older than" in (row.last_error or "")
        assert drain(mail_server) == 0
    finally:
        sink.down = False
    assert sink.to(reader) == []
    assert subscription_of(mail_server, reader).consecutive_failures == 0


def test_a_recipient_refused_with_4xx_waits_and_counts_against_no_one(
    mail_server: LiveServer, sink: SmtpSink, clock_restored: None
) -> None:
    page = make_page(mail_server)
    [busy, other] = add_subscribers(mail_server, page.id, 2)
    sink.refuse[busy] = 450
    limit = mail_server.settings.subscription_failure_limit
    try:
        with sdk_for(mail_server) as sdk:
            incident = create_incident(sdk, page.id, "Greylisted")
        for _ in range(limit + 1):
            drain(mail_server)
            mail_server.clock.offset += timedelta(hours=2)
        rows = {r.subscription_id: r for r in outbox_rows(mail_server, subject_id=incident.id)}
        refused = rows[subscription_of(mail_server, busy).id]
        assert (refused.status, refused.attempts) == ("pending", limit + 1)
        assert "450" in (refused.last_error or "")
        assert subscription_of(mail_server, busy).consecutive_failures == 0
        assert subscription_of(mail_server, busy).disabled_at is None
        assert len(sink.to(other)) == 1
    finally:
        del sink.refuse[busy]
    mail_server.clock.offset += timedelta(hours=2)
    drain(mail_server)
    assert len(sink.to(busy)) == 1


def test_permanent_refusals_kill_the_message_at_once_and_a_run_of_them_disables_the_address(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server)
    [bad, good] = add_subscribers(mail_server, page.id, 2)
    sink.refuse[bad] = 550
    limit = mail_server.settings.subscription_failure_limit
    with sdk_for(mail_server) as sdk:
        for i in range(limit):
            create_incident(sdk, page.id, f"Incident {i}")
            drain(mail_server)
        rows = [r for r in outbox_rows(mail_server) if r.status == "dead"]
        assert len([r for r in rows if r.attempts == 1 and "550" in (r.last_error or "")]) >= limit
        disabled = subscription_of(mail_server, bad)
        assert disabled.disabled_at is not None
        assert disabled.consecutive_failures == limit
        create_incident(sdk, page.id, "After disabling")
        drain(mail_server)
    assert len(sink.to(good)) == limit + 1
    assert subscription_of(mail_server, good).disabled_at is None
    queued_for_bad = [r for r in outbox_rows(mail_server, subscription_id=disabled.id)]
    assert len(queued_for_bad) == limit  # nothing queued once disabled


def test_recording_the_same_event_twice_queues_one_message_per_subscriber(
    mail_server: LiveServer, sink: SmtpSink
) -> None:
    page = make_page(mail_server)
    readers = add_subscribers(mail_server, page.id, 3)
    with sdk_for(mail_server) as sdk:
        incident = create_incident(sdk, page.id, "Once only")
    [first] = outbox_rows(mail_server, subject_id=incident.id)[:1]

    async def replay(ctx: AppContext) -> None:
        async with ctx.db.write() as session:
            await ctx.events.record(
                session,
                DomainEvent(
                    kind="incident.created",
                    status_page_id=page.id,
                    subject_id=incident.id,
                    occurred_at=ctx.clock.now(),
                    notify_subscribers=True,
                    update_id=first.update_id,
                ),
            )

    mail_server.call(replay)
    assert len(outbox_rows(mail_server, subject_id=incident.id)) == 3
    drain(mail_server)
    for reader in readers:
        assert len(sink.to(reader)) == 1


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    for attempts in range(1, 8):
        delay = backoff(attempts, 30).total_seconds()
        assert 15 * 2 ** (attempts - 1) <= delay <= 30 * 2 ** (attempts - 1)
    assert backoff(40, 30) == timedelta(hours=6)
    assert backoff(1, 30, retry_after=600) == timedelta(seconds=600)
    assert len({backoff(3, 30) for _ in range(20)}) > 1


def test_an_unreachable_smtp_server_is_retried_and_never_held_against_subscribers(
    tmp_path: Path,
) -> None:
    closed_port = free_port()
    with (
        fresh_database(str(tmp_path)) as url,
        live_server(
            url, smtp_url=f"smtp://127.0.0.1:{closed_port}", subscription_failure_limit=1
        ) as server,
    ):
        page = make_page(server)
        [reader] = add_subscribers(server, page.id, 1)
        with sdk_for(server) as sdk:
            incident = create_incident(sdk, page.id, "Mail server down")
        assert drain(server) == 1
        [row] = outbox_rows(server, subject_id=incident.id)
        assert row.status == "pending" and row.attempts == 1
        assert "connection failed" in (row.last_error or "")
        subscription = subscription_of(server, reader)
        assert subscription.consecutive_failures == 0
        assert subscription.disabled_at is None
