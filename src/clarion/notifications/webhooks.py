"""The webhook channel: POST each outbox row's payload, signed, to the subscription's URL.

Delivery contract (``deliver``, registered as channel ``webhook``):

1. The body is the row's payload as compact JSON; the same bytes are signed and sent.
2. Headers: Standard Webhooks ``webhook-id`` (the outbox row id, so it stays the same across
   retries and receivers can drop duplicates), ``webhook-timestamp`` (unix seconds, this
   attempt), ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``), ``Content-Type:
   application/json`` and ``User-Agent: Clarion-Webhooks/<version>``.
3. The connection goes through ``ssrf.GuardedBackend`` (addresses checked when connecting),
   redirects are never followed, and the whole attempt is bounded by
   ``CLARION_WEBHOOK_TIMEOUT_SECONDS``. The response body is never read.
4. Outcome: 2xx is success. 410 Gone is a permanent failure that disables the subscription at
   once. 408, 429, 5xx, timeouts and network errors are temporary (retried with the outbox's
   exponential backoff; a sane ``Retry-After`` — up to six hours — is honoured). Any other
   status (3xx, 4xx) and a blocked address are permanent failures of this message. Every
   failure counts towards disabling the subscription (the outbox's consecutive-failure run).

Error texts name the host only, never the full URL (it may carry a token) nor the secret.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

import httpcore
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.components.models import Component
from clarion.context import AppContext
from clarion.errors import NotFound, ValidationFailed
from clarion.ids import new_id
from clarion.notifications.models import OutboxMessage
from clarion.notifications.outbox import PermanentFailure, TemporaryFailure
from clarion.notifications.signing import new_secret, signature_headers
from clarion.notifications.ssrf import (
    BlockedAddress,
    GuardedBackend,
    Resolver,
    check_url,
    system_resolver,
)
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import component_ids_on_page, page_by_slug
from clarion.subscribers.models import WEBHOOK, Subscription

#: A ``Retry-After`` longer than this is not sane; the backoff's own cap applies instead.
MAX_RETRY_AFTER_SECONDS = 6 * 3600
TEMPORARY_STATUSES = frozenset({408, 429})


def _user_agent() -> str:
    try:
        return f"Clarion-Webhooks/{version('clarion')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "Clarion-Webhooks"


class WebhookSender:
    """Posts bodies to webhook URLs over one connection pool whose connections are guarded
    by the address policy. One per running Clarion (kept in ``ctx.channels``)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_seconds: float,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.user_agent = _user_agent()
        self.backend = GuardedBackend(allow_private=allow_private, resolver=resolver)
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=30.0,
            network_backend=self.backend,
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        """POST ``body``; return the status and the ``Retry-After`` header (if any).

        Raises ``BlockedAddress`` for a refused target and ``httpcore`` errors (or
        ``TimeoutError``) for network trouble.
        """
        all_headers = {
            **headers,
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
        }
        per_step = {
            "connect": self.timeout_seconds,
            "read": self.timeout_seconds,
            "write": self.timeout_seconds,
            "pool": self.timeout_seconds,
        }
        # httpcore's timeouts are per step; a receiver dripping one header byte at a time
        # would never trip them, so the whole attempt has a deadline too.
        async with asyncio.timeout(self.timeout_seconds * 2):
            async with self.pool.stream(
                "POST",
                url,
                headers=list(all_headers.items()),
                content=body,
                extensions={"timeout": per_step},
            ) as response:
                retry_after = next(
                    (
                        v.decode("latin-1")
                        for k, v in response.headers
                        if k.lower() == b"retry-after"
                    ),
                    None,
                )
                return response.status, retry_after

    async def close(self) -> None:
        await self.pool.aclose()


def sender_for(ctx: AppContext) -> WebhookSender:
    """The context's sender, created on first use from its settings."""
    sender = ctx.channels.webhook_sender
    if sender is None:
        sender = WebhookSender(
            allow_private=ctx.settings.webhook_allow_private,
            timeout_seconds=ctx.settings.webhook_timeout_seconds,
        )
        ctx.channels.webhook_sender = sender
    return sender


def encode_body(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    ``None`` when absent, unparseable, negative, or longer than six hours (not sane).
    """
    if value is None:
        return None
    text = value.strip()
    seconds: float
    if text.isascii() and text.isdigit():
        seconds = float(int(text))
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    if seconds < 0 or seconds > MAX_RETRY_AFTER_SECONDS:
        return None
    return seconds


async def deliver(ctx: AppContext, row: OutboxMessage, subscription: Subscription) -> None:
    """Deliver one outbox row to a webhook subscription (see the module contract)."""
    if not subscription.url or not subscription.signing_secret:
        raise PermanentFailure("the webhook subscription has no URL or signing secret")
    host = urlsplit(subscription.url).hostname or "?"
    body = encode_body(row.payload)
    now = ctx.clock.now()
    also = []
    if (
        subscription.previous_signing_secret
        and subscription.previous_secret_expires_at is not None
        and now < subscription.previous_secret_expires_at
    ):
        also.append(subscription.previous_signing_secret)
    headers = signature_headers(
        subscription.signing_secret, row.id, int(now.timestamp()), body, *also
    )
    try:
        status, retry_after = await sender_for(ctx).post(subscription.url, body, headers)
    except BlockedAddress as exc:
        raise PermanentFailure(f"refused: {exc}") from None
    except (TimeoutError, httpcore.TimeoutException):
        raise TemporaryFailure(f"{host}: timed out") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError, OSError) as exc:
        raise TemporaryFailure(f"{host}: {type(exc).__name__}: {exc}") from None
    except httpcore.UnsupportedProtocol as exc:
        raise PermanentFailure(f"{host}: {exc}") from None
    if 200 <= status < 300:
        return
    if status == 410:
        raise PermanentFailure(
            f"{host} answered 410 Gone: subscription disabled", disable_subscription=True
        )
    if status in TEMPORARY_STATUSES or status >= 500:
        raise TemporaryFailure(
            f"{host} answered {status}", retry_after=parse_retry_after(retry_after, now)
        )
    if 300 <= status < 400:
        raise PermanentFailure(f"{host} answered {status}: redirects are not followed")
    raise PermanentFailure(f"{host} answered {status}")


# -- operators' management of webhook subscriptions ---------------------------------------

MAX_URL_LENGTH = 2000


async def add_webhook(
    session: AsyncSession,
    *,
    page: str,
    url: str,
    components: Sequence[str],
    allow_private: bool,
    now: datetime,
    actor: Actor,
) -> tuple[Subscription, str]:
    """Store a confirmed webhook subscription; return it with its signing secret.

    ``page`` is a status page slug or id; ``components`` are component keys (as declared
    with ``clarion apply``) or ids, each on the page; none means the whole page. Raises
    ``NotFound`` for an unknown page and ``ValidationFailed`` for a bad URL or component.
    """
    status_page = await page_by_slug(session, page) or await session.get(StatusPage, page)
    if status_page is None:
        raise NotFound(f"No status page with slug or id {page!r}")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed.at(
            "invalid_value", f"the URL is longer than {MAX_URL_LENGTH} characters", "url"
        )
    try:
        checked = check_url(url, allow_private=allow_private)
    except ValueError as exc:
        raise ValidationFailed.at("invalid_value", str(exc), "url") from None
    component_ids = await _component_ids(session, status_page.id, components)
    secret = new_secret()
    subscription = Subscription(
        id=new_id(),
        status_page_id=status_page.id,
        channel=WEBHOOK,
        email=None,
        url=checked,
        signing_secret=secret,
        component_ids=component_ids,
        confirmed_at=now,
        unsubscribed_at=None,
        disabled_at=None,
        consecutive_failures=0,
        confirmation_sent_at=None,
        confirmations_sent=0,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    _audit(session, actor, "webhook.add", subscription, now, component_ids=component_ids)
    await session.flush()
    return subscription, secret


def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    subscription: Subscription,
    now: datetime,
    **detail: object,
) -> None:
    """The audit entry of an operator's change to a webhook: its URL is named without
    credentials or query (either may hold a token), never with its signing secret."""
    parts = urlsplit(subscription.url or "")
    shown = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
    shown += parts.path
    audit.record(
        session,
        actor,
        action,
        object_type="webhook",
        object_id=subscription.id,
        status_page_id=subscription.status_page_id,
        at=now,
        summary=f"{action.split('.', 1)[1].replace('_', ' ')} {shown}",
        detail={"url": shown, **detail},
    )


async def _component_ids(session: AsyncSession, page_id: str, refs: Sequence[str]) -> list[str]:
    if not refs:
        return []
    on_page = await component_ids_on_page(session, page_id)
    rows = (
        await session.execute(
            select(Component.id, Component.key).where(
                or_(Component.key.in_(refs), Component.id.in_(refs))
            )
        )
    ).all()
    by_ref = {**{r.id: r.id for r in rows}, **{r.key: r.id for r in rows if r.key}}
    found: list[str] = []
    for ref in refs:
        component_id = by_ref.get(ref)
        if component_id is None or component_id not in on_page:
            raise ValidationFailed.at(
                "not_found", f"no component {ref!r} on this status page", "component"
            )
        if component_id not in found:
            found.append(component_id)
    return found


async def _webhook(session: AsyncSession, subscription_id: str) -> Subscription:
    subscription = await session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None or subscription.channel != WEBHOOK:
        raise NotFound(f"No webhook subscription with id {subscription_id!r}")
    return subscription


async def _live_webhook(session: AsyncSession, subscription_id: str) -> Subscription:
    """``_webhook``, refusing one that was removed (it is added again instead)."""
    subscription = await _webhook(session, subscription_id)
    if subscription.unsubscribed_at is not None:
        raise ValidationFailed.at(
            "not_allowed", "this webhook was removed; add it again instead", "subscription"
        )
    return subscription


async def enable_webhook(
    session: AsyncSession, subscription_id: str, now: datetime, *, actor: Actor
) -> Subscription:
    """Re-enable a disabled webhook and clear its failure run. Messages that failed while it
    was disabled stay failed; ``clarion outbox retry`` re-drives them."""
    subscription = await _live_webhook(session, subscription_id)
    subscription.disabled_at = None
    subscription.consecutive_failures = 0
    subscription.updated_at = now
    _audit(session, actor, "webhook.enable", subscription, now)
    await session.flush()
    return subscription


async def remove_webhook(
    session: AsyncSession, subscription_id: str, now: datetime, *, actor: Actor
) -> Subscription:
    """Stop a webhook for good: nothing more is queued for it and queued messages are dropped
    (the row stays, marked unsubscribed, so delivery history keeps its subscriber)."""
    subscription = await _webhook(session, subscription_id)
    if subscription.unsubscribed_at is None:
        subscription.unsubscribed_at = now
        subscription.updated_at = now
        _audit(session, actor, "webhook.remove", subscription, now)
        await session.flush()
    return subscription


async def rotate_secret(
    session: AsyncSession,
    subscription_id: str,
    now: datetime,
    keep_previous: timedelta,
    *,
    actor: Actor,
) -> str:
    """Give a webhook a new signing secret and return it. Until ``now + keep_previous`` every
    message carries a signature with the old secret too, so the receiver can switch to the
    new one without rejecting anything; ``keep_previous`` of zero drops the old one at once."""
    subscription = await _live_webhook(session, subscription_id)
    if keep_previous.total_seconds() > 0 and subscription.signing_secret:
        subscription.previous_signing_secret = subscription.signing_secret
        subscription.previous_secret_expires_at = now + keep_previous
    else:
        subscription.previous_signing_secret = None
        subscription.previous_secret_expires_at = None
    secret = new_secret()
    subscription.signing_secret = secret
    subscription.updated_at = now
    _audit(
        session,
        actor,
        "webhook.rotate_secret",
        subscription,
        now,
        keep_old_seconds=int(keep_previous.total_seconds()),
    )
    await session.flush()
    return secret
