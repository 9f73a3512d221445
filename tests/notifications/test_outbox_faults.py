"""The outbox under faults, with real ``clarion worker`` processes, a real SMTP server and a real
HTTP receiver on loopback: leases shorter than a batch, a worker paused past its lease, a relay
refusing or down, and a webhook receiver that hangs."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from clarion.context import AppContext
from clarion.subscribers.models import Subscription
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer, free_port, fresh_database, live_server
from tests.notifications.test_webhook_delivery import subscribe
from tests.notifications.webhook_receiver import Reply, webhook_receiver
from tests.notifications.workers import (
    pause_outside_a_transaction,
    wait_until_all_sent,
    wait_until_running,
    worker,
)
from tests.subscribers.helpers import add_subscribers, create_incident, outbox_rows, sdk_for
from tests.subscribers.smtp_sink import SmtpSink

#: The most a delivery may wait while a webhook receiver hangs: the worker's poll (1 s) and the
#: delivery, with room for a busy machine.
BESIDE_A_HANGING_WEBHOOK_SECONDS = 4.0


@dataclass
class Sink(SmtpSink):
    """The test SMTP server, which can also answer DATA with 451 after ``data_delay``, and
    hold its answers to RCPT while ``hold_rcpt`` is set (``held`` counts the clients waiting)."""

    data_delay: float = 0.0
    refuse_data: bool = False
    hold_rcpt: bool = False
    held: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.hold_rcpt:
            with self.lock:
                self.held += 1
            try:
                while self.hold_rcpt:
                    await asyncio.sleep(0.02)
            finally:
                with self.lock:
                    self.held -= 1
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.refuse_data:
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def serving(sink: Sink) -> Iterator[Sink]:
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        yield srv


def subscriptions(server: LiveServer, page_id: str) -> list[Subscription]:
    async def body(ctx: AppContext) -> list[Subscription]:
        async with ctx.db.read() as session:
            found = await session.scalars(
                select(Subscription).where(Subscription.status_page_id == page_id)
            )
            return list(found)

    return server.call(body)


def sent_count(server: LiveServer, subject_id: str) -> int:
    return sum(1 for r in outbox_rows(server, subject_id=subject_id) if r.status == "sent")


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_with_a_lease_shorter_than_their_batch_send_each_message_once(
    server: LiveServer, tmp_path: Path
) -> None:
    # Each worker holds 40 rows and sends 2 at a time at 0.25 s each: 5 s of work under a
    # 3 s lease, kept by heartbeats.
    page = make_page(server)
    readers = add_subscribers(server, page.id, 100)
    settings = {
        "outbox_lease_seconds": 3,
        "outbox_batch_size": 40,
        "smtp_pool_size": 2,
    }
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with (
        serving(Sink(port=free_port(), delay=0.25)) as sink,
        worker(server, sink.url, logs[0], **settings),
        worker(server, sink.url, logs[1], **settings),
    ):
        wait_until_running(logs)
        with sdk_for(server) as sdk:
            incident = create_incident(sdk, page.id, "Short leases")
        wait_until_all_sent(server, incident.id, 100, timeout=120)
    for reader in readers:
        assert len(sink.to(reader)) == 1, reader
    assert sink.count() == 100
    rows = outbox_rows(server, subject_id=incident.id)
    assert len({r.lease_owner for r in rows}) == 2, "both workers should have taken a share"


def test_a_worker_paused_past_its_lease_sends_nothing_when_it_resumes(
    server: LiveServer, tmp_path: Path
) -> None:
    page = make_page(server)
    readers = add_subscribers(server, page.id, 40)
    settings = {
        "outbox_lease_seconds": 2,
        "outbox_batch_size": 40,
        "smtp_pool_size": 2,
        "outbox_retry_base_seconds": 0.5,
    }
    with (
        serving(Sink(port=free_port(), data_delay=0.3)) as sink,
        worker(server, sink.url, tmp_path / "paused.log", **settings) as paused,
    ):
        with sdk_for(server) as sdk:
            incident = create_incident(sdk, page.id, "Paused worker")
        sink.wait_for(lambda: sink.count() >= 4, timeout=60)
        # From here the server refuses messages (451), so every message it accepted was sent
        # by a worker that goes on to record it, and it holds its answers to RCPT: the worker
        # stops with both its connections in the middle of an envelope, as a worker frozen
        # mid-delivery would, and it would send DATA next if nothing checked its lease.
        sink.refuse_data = True
        sink.hold_rcpt = True
        sink.wait_for(lambda: sink.held == settings["smtp_pool_size"], timeout=30)
        wait_for(
            lambda: sent_count(server, incident.id) == sink.count(),
            30,
            "the accepted messages recorded as sent",
        )
        pause_outside_a_transaction(paused, server)
        try:
            accepted_before = sink.count()
            assert accepted_before < 40
            time.sleep(2 + 1.5)  # past the lease
            sink.refuse_data = False
            sink.hold_rcpt = False  # the paused worker's envelopes are accepted: it resumes
            # with RCPT answered and, without the check before DATA, would send both.
            with worker(server, sink.url, tmp_path / "other.log", **settings):
                wait_until_all_sent(server, incident.id, 40, timeout=120)
            rows_before = {
                r.id: (r.status, r.lease_owner, r.sent_at)
                for r in outbox_rows(server, subject_id=incident.id)
            }
            accepted = sink.count()
        finally:
            paused.send_signal(signal.SIGCONT)
        time.sleep(4)  # the resumed worker's sends, heartbeats and outcome writes
        assert paused.poll() is None, "the resumed worker should still be running"

    assert sink.count() == accepted, "the resumed worker sent again"
    rows_after = {
        r.id: (r.status, r.lease_owner, r.sent_at)
        for r in outbox_rows(server, subject_id=incident.id)
    }
    assert rows_after == rows_before, "the resumed worker changed rows it no longer held"
    for reader in readers:
        assert len(sink.to(reader)) == 1, reader


def _relay_outage(
    server: LiveServer, page: PageInfo, smtp_url: str, log: Path, *, recover: Any
) -> None:
    """Publish while the relay fails, check that nothing is held against anyone and no
    message is given up, then ``recover()`` the relay and check every message arrives once."""
    readers = add_subscribers(server, page.id, 20)
    settings = {
        "subscription_failure_limit": 1,
        "outbox_max_attempts": 2,
        "outbox_retry_base_seconds": 0.2,
    }
    with worker(server, smtp_url, log, **settings):
        with sdk_for(server) as sdk:
            incident = create_incident(sdk, page.id, "Relay trouble")
        # The relay failed, then failed the probes after a 1 s and a 2 s pause.
        wait_for(lambda: "pause 3 in a row" in log.read_text(), 30, "three pauses")
        rows = outbox_rows(server, subject_id=incident.id)
        assert sum(1 for r in rows if r.last_error) >= 2
        assert not [r for r in rows if r.status in ("dead", "failed", "sent")], [
            (r.status, r.last_error) for r in rows
        ]
        assert all(s.disabled_at is None for s in subscriptions(server, page.id))
        assert all(s.consecutive_failures == 0 for s in subscriptions(server, page.id))
        sink = recover()
        wait_until_all_sent(server, incident.id, 20, timeout=90)
    for reader in readers:
        assert len(sink.to(reader)) == 1, reader
    assert all(s.disabled_at is None for s in subscriptions(server, page.id))


def test_a_relay_refusing_with_4xx_disables_no_one_and_every_message_arrives_after_it(
    server: LiveServer, tmp_path: Path
) -> None:
    page = make_page(server)
    with serving(Sink(port=free_port(), down=True)) as sink:

        def recover() -> Sink:
            sink.down = False
            return sink

        _relay_outage(server, page, sink.url, tmp_path / "worker.log", recover=recover)


def test_a_relay_that_is_down_disables_no_one_and_every_message_arrives_when_it_returns(
    server: LiveServer, tmp_path: Path
) -> None:
    page = make_page(server)
    sink = Sink(port=free_port())
    with ExitStack() as stack:

        def recover() -> Sink:
            return stack.enter_context(serving(sink))

        _relay_outage(server, page, sink.url, tmp_path / "worker.log", recover=recover)


def test_a_hanging_webhook_receiver_does_not_hold_up_email(
    server: LiveServer, tmp_path: Path
) -> None:
    page = make_page(server)
    [reader] = add_subscribers(server, page.id, 1)
    with (
        serving(Sink(port=free_port())) as sink,
        webhook_receiver() as receiver,
    ):
        receiver.default = Reply(200, delay=30.0)  # past the default timeout (10 s)

        add_webhooks(server, page, [receiver.url(f"/hook-{i}") for i in range(3)])
        log = tmp_path / "worker.log"
        with worker(server, sink.url, log, webhook_allow_private="true"):
            wait_until_running([log])
            with sdk_for(server) as sdk:
                create_incident(sdk, page.id, "First")
                sink.wait_for(lambda: len(sink.to(reader)) == 1, timeout=30)
                wait_for(lambda: len(receiver.received()) == 3, 30, "the webhooks to hang")
                started = time.monotonic()
                create_incident(sdk, page.id, "Second")
                sink.wait_for(lambda: len(sink.to(reader)) == 2, timeout=30)
                waited = time.monotonic() - started
    assert waited < BESIDE_A_HANGING_WEBHOOK_SECONDS, f"the e-mail waited {waited:.1f} s"


def test_a_hanging_webhook_host_does_not_hold_up_other_hosts(
    server: LiveServer, tmp_path: Path
) -> None:
    page = make_page(server, components=1)
    [component] = page.components.values()
    with (
        webhook_receiver("127.0.0.1") as hanging,
        webhook_receiver("127.0.0.2") as healthy,
    ):
        hanging.default = Reply(200, delay=30.0)  # past the default timeout (10 s)
        add_webhooks(server, page, [hanging.url(f"/hook-{i}") for i in range(12)])
        add_webhooks(server, page, [healthy.url()], components=(component,))
        log = tmp_path / "worker.log"
        settings = {"webhook_allow_private": "true", "outbox_webhook_host_concurrency": 2}
        with worker(server, "smtp://127.0.0.1:9", log, **settings):
            wait_until_running([log])
            with sdk_for(server) as sdk:
                create_incident(sdk, page.id, "First")  # the whole page: the hanging host
                wait_for(lambda: len(hanging.received()) == 2, 30, "the webhooks to hang")
                started = time.monotonic()
                create_incident(
                    sdk, page.id, "Second", components={component: "degraded_performance"}
                )
                wait_for(lambda: len(healthy.received()) == 1, 30, "the other host")
                waited = time.monotonic() - started
            assert len(hanging.received()) == 2, "more than its limit went to the hanging host"
    assert waited < BESIDE_A_HANGING_WEBHOOK_SECONDS, f"the other host waited {waited:.1f} s"


def add_webhooks(
    server: LiveServer, page: PageInfo, urls: list[str], components: tuple[str, ...] = ()
) -> None:
    for url in urls:
        subscribe(server, page, url, components)
