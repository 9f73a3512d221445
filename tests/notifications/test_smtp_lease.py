"""The SMTP pool checks the outbox lease twice: before the envelope and again right before
``DATA``, so a worker that lost its lease while the envelope was being accepted (paused, say)
sends nothing; the connection stays usable for the next message. Against a real SMTP server
(aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from clarion.notifications.email import SmtpPool, parse_smtp_url
from clarion.notifications.outbox import LeaseLost
from tests.subscribers.smtp_sink import SmtpSink, smtp_sink

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


def run_with_pool(scenario: Callable[[SmtpPool, SmtpSink], Awaitable[None]]) -> SmtpSink:
    """``scenario`` with a one-connection pool to a fresh sink (closed after); the sink."""
    with smtp_sink() as sink:
        pool = SmtpPool(parse_smtp_url(sink.url), size=1, timeout=10)

        async def run() -> None:
            try:
                await scenario(pool, sink)
            finally:
                await pool.close()

        asyncio.run(run())
    return sink


def send(pool: SmtpPool, lease: Lease) -> Awaitable[None]:
    return pool.send(MESSAGE, "status@example.com", "reader@example.com", lease)


def test_a_lease_lost_after_the_envelope_sends_nothing_and_keeps_the_connection() -> None:
    async def scenario(pool: SmtpPool, sink: SmtpSink) -> None:
        lost_at_data = Lease(holds=1)
        with pytest.raises(LeaseLost):
            await send(pool, lost_at_data)
        assert lost_at_data.calls == 2, "checked again right before DATA"
        assert sink.count() == 0
        kept = Lease(holds=2)
        await send(pool, kept)
        assert kept.calls == 2

    sink = run_with_pool(scenario)
    assert [r.rcpt_to for r in sink.received] == [["reader@example.com"]]


def test_a_lease_lost_before_the_envelope_opens_no_transaction() -> None:
    async def scenario(pool: SmtpPool, _sink: SmtpSink) -> None:
        lost = Lease(holds=0)
        with pytest.raises(LeaseLost):
            await send(pool, lost)
        assert lost.calls == 1

    assert run_with_pool(scenario).count() == 0
