"""What the delivery channels keep for a running Clarion: the SMTP connection pool, the webhook
sender and the e-mail rendering caches, each made on first use and closed with the context."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clarion.context import AppContext
    from clarion.notifications.email import SmtpPool
    from clarion.notifications.models import OutboxMessage
    from clarion.notifications.webhooks import WebhookSender
    from clarion.status_pages.models import StatusPage
    from clarion.subscribers.models import Subscription

#: ``deliver(ctx, row, subscription, lease)``: returns on success, raises a ``DeliveryFailure``;
#: calls ``lease()`` right before the message leaves (it raises when the lease is lost).
Deliver = Callable[
    ["AppContext", "OutboxMessage", "Subscription", Callable[[], None]], Awaitable[None]
]


@dataclass
class Pause:
    """A destination that could not be reached: nothing is sent to it before ``until``;
    ``count`` pauses in a row (each twice as long as the last, up to a minute)."""

    until: datetime
    count: int


@dataclass
class Channels:
    smtp_pool: SmtpPool | None = None
    webhook_sender: WebhookSender | None = None
    #: Pages by id, with when they were read (e-mails name their page).
    email_pages: dict[str, tuple[float, StatusPage | None]] = field(default_factory=dict)
    email_pages_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Rendered message content, the same for every recipient of one event.
    email_content: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    #: Destinations (the SMTP relay, webhook hosts) paused after failing to answer.
    pauses: dict[str, Pause] = field(default_factory=dict)

    async def close(self) -> None:
        closers = [c.close for c in (self.smtp_pool, self.webhook_sender) if c is not None]
        self.smtp_pool = self.webhook_sender = None
        for close in closers:
            with contextlib.suppress(Exception):
                await close()


def deliverer(channel: str) -> Deliver | None:
    """The function that delivers outbox rows of ``channel`` (None for an unknown one)."""
    from clarion.notifications import email, webhooks
    from clarion.subscribers.models import EMAIL, WEBHOOK

    found: dict[str, Deliver] = {EMAIL: email.deliver, WEBHOOK: webhooks.deliver}
    return found.get(channel)
