"""E-mail subscriptions: subscribe (double opt-in), confirm, unsubscribe, preferences, listing.

Nothing here tells a caller whether an address was already subscribed: ``request_subscription``
behaves the same to the outside for new, pending and confirmed addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.errors import ValidationFailed
from clarion.ids import new_id
from clarion.notifications.models import PENDING
from clarion.notifications.outbox import CONFIRM_KIND, dedupe_key, enqueue
from clarion.status_pages.models import StatusPage
from clarion.status_pages.service import component_ids_on_page
from clarion.subscribers.addresses import AddressRefused, valid_address
from clarion.subscribers.models import EMAIL, Subscription

CONFIRMATION_WINDOW = timedelta(days=1)


def normalise_email(raw: str) -> str:
    """The address as stored (``addresses.valid_address``, at its most permissive: callers with
    settings check the relay's and the installation's rules first); raises
    ``ValidationFailed`` (``invalid_value`` at ``email``) when it is not an address."""
    try:
        return valid_address(raw, smtp_utf8=True, test_domains=True)
    except AddressRefused as error:
        raise ValidationFailed.at("invalid_value", str(error), "email") from None


async def _valid_components(
    session: AsyncSession, page_id: str, component_ids: list[str]
) -> list[str]:
    """Keep the ids that are components of the page, in the given order, once each."""
    if not component_ids:
        return []
    on_page = await component_ids_on_page(session, page_id)
    return [c for c in dict.fromkeys(component_ids) if c in on_page]


async def request_subscription(
    session: AsyncSession,
    page: StatusPage,
    raw_email: str,
    component_ids: list[str],
    now: datetime,
    confirmations_per_day: int,
) -> Subscription | None:
    """Ask for a subscription of ``raw_email`` to ``page`` (or to some of its components).

    1. A new or not-yet-confirmed (or unsubscribed) address gets a pending subscription and a
       confirmation e-mail queued in the outbox; nothing else is sent to it before it is
       confirmed.
    2. At most ``confirmations_per_day`` confirmation e-mails per address and page in any
       day; further requests change nothing (the reply looks the same).
    3. An already confirmed, active address: nothing is queued (the preferences link in any
       e-mail changes components).

    Returns the subscription when a confirmation was queued, else ``None``.
    """
    email = normalise_email(raw_email)
    components = await _valid_components(session, page.id, component_ids)
    subscription = await session.scalar(
        select(Subscription)
        .where(Subscription.status_page_id == page.id, Subscription.email == email)
        .with_for_update()
    )
    if subscription is None:
        subscription = Subscription(
            id=new_id(),
            status_page_id=page.id,
            channel=EMAIL,
            email=email,
            component_ids=components,
            consecutive_failures=0,
            confirmations_sent=0,
            created_at=now,
            updated_at=now,
        )
        session.add(subscription)
    elif subscription.is_active:
        return None
    else:
        if subscription.disabled_at is not None and subscription.confirmed_at is not None:
            return None  # the operator disabled delivery: leave it to them
        subscription.component_ids = components
        subscription.confirmed_at = None
        subscription.unsubscribed_at = None
        subscription.updated_at = now
    window_start = subscription.confirmation_sent_at
    if window_start is None or now - window_start >= CONFIRMATION_WINDOW:
        subscription.confirmation_sent_at = now
        subscription.confirmations_sent = 0
    if subscription.confirmations_sent >= confirmations_per_day:
        await session.flush()
        return None
    subscription.confirmations_sent += 1
    await session.flush()
    sequence = f"{int(now.timestamp())}-{subscription.confirmations_sent}"
    await enqueue(
        session,
        [
            {
                "id": new_id(),
                "subscription_id": subscription.id,
                "channel": EMAIL,
                "kind": CONFIRM_KIND,
                "subject_id": subscription.id,
                "update_id": None,
                "payload": {
                    "type": CONFIRM_KIND,
                    "data": {"status_page": {"id": page.id, "name": page.name}},
                },
                "dedupe_key": dedupe_key(subscription.id, sequence, CONFIRM_KIND),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        ],
    )
    return subscription


async def confirm(
    session: AsyncSession, subscription_id: str, now: datetime
) -> Subscription | None:
    """Confirm a pending subscription (idempotent). An unsubscribed one stays unsubscribed:
    it must ask again. Returns the subscription when it is (now) confirmed."""
    subscription = await session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None or subscription.channel != EMAIL:
        return None
    if subscription.unsubscribed_at is not None:
        return None
    if subscription.confirmed_at is None:
        subscription.confirmed_at = now
        subscription.updated_at = now
        await session.flush()
    return subscription


async def unsubscribe(session: AsyncSession, subscription_id: str, now: datetime) -> bool:
    """Stop every delivery to this subscription (idempotent). False when it does not exist."""
    subscription = await session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None:
        return False
    if subscription.unsubscribed_at is None:
        subscription.unsubscribed_at = now
        subscription.updated_at = now
        await session.flush()
    return True


async def set_components(
    session: AsyncSession, subscription_id: str, component_ids: list[str], now: datetime
) -> Subscription | None:
    """Choose components (empty: the whole page). Unknown ids are ignored."""
    subscription = await session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None:
        return None
    subscription.component_ids = await _valid_components(
        session, subscription.status_page_id, component_ids
    )
    subscription.updated_at = now
    await session.flush()
    return subscription


@dataclass
class SubscriptionRow:
    subscription: Subscription
    page_slug: str


async def list_subscriptions(
    session: AsyncSession, page_slug: str | None = None
) -> list[SubscriptionRow]:
    """Every subscription (e-mail and webhook), by page then creation."""
    query = (
        select(Subscription, StatusPage.slug)
        .join(StatusPage, StatusPage.id == Subscription.status_page_id)
        .order_by(StatusPage.slug, Subscription.created_at, Subscription.id)
    )
    if page_slug is not None:
        query = query.where(StatusPage.slug == page_slug)
    return [SubscriptionRow(sub, slug) for sub, slug in (await session.execute(query)).all()]


def state_of(subscription: Subscription) -> str:
    """``active``, ``pending`` (not confirmed), ``unsubscribed`` or ``disabled``."""
    if subscription.unsubscribed_at is not None:
        return "unsubscribed"
    if subscription.disabled_at is not None:
        return "disabled"
    if subscription.confirmed_at is None:
        return "pending"
    return "active"
