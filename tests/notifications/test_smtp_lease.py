"""The SMTP pool checks the outbox lease twice: before the envelope and again right before
``DATA``, so a worker that lost its lease while the envelope was being accepted (paused, say)
sends nothing; the connection stays usable for the next message. Against a real SMTP server
(aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio

import pytest

from clarion.notifications.email import SmtpPool, parse_smtp_url
from clarion.notifications.outbox import LeaseLost
from tests.subscribers.smtp_sink import smtp_sink

MESSAGE = b"From: status@example.com\r\nTo: reader@example.com\r\nSubject: t\r\n\r\nHello\r\n"


class Lease:
    """A lease check that holds for its first ``holds`` calls, then is lost."""

    def __init__(self, holds: int) -> None:
        self.holds = holds
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls > self.holds:
            raise LeaseLost("taken over")


def test_a_lease_lost_after_the_envelope_sends_nothing_and_keeps_the_connection() -> None:
    with smtp_sink() as sink:
        pool = SmtpPool(parse_smtp_url(sink.url), size=1, timeout=10)

        async def scenario() -> None:
            lost_at_data = Lease(holds=1)
            with pytest.raises(LeaseLost):
                await pool.send(MESSAGE, "status@example.com", "reader@example.com", lost_at_data)
            assert lost_at_data.calls == 2, "checked again right before DATA"
            assert sink.count() == 0
            kept = Lease(holds=2)
            await pool.send(MESSAGE, "status@example.com", "reader@example.com", kept)
            assert kept.calls == 2
            await pool.close()

        asyncio.run(scenario())
    assert [r.rcpt_to for r in sink.received] == [["reader@example.com"]]


def test_a_lease_lost_before_the_envelope_opens_no_transaction() -> None:
    with smtp_sink() as sink:
        pool = SmtpPool(parse_smtp_url(sink.url), size=1, timeout=10)

        async def scenario() -> None:
            lost = Lease(holds=0)
            with pytest.raises(LeaseLost):
                await pool.send(MESSAGE, "status@example.com", "reader@example.com", lost)
            assert lost.calls == 1
            await pool.close()

        asyncio.run(scenario())
    assert sink.count() == 0
