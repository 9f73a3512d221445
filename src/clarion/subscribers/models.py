"""Subscriptions: who hears about a page (e-mail addresses and webhook endpoints)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base

ACTIVE_SQL = "confirmed_at IS NOT NULL AND unsubscribed_at IS NULL AND disabled_at IS NULL"
EMAIL = "email"
WEBHOOK = "webhook"


class Subscription(Base):
    """One subscriber of one status page, on one channel.

    ``component_ids`` empty means the whole page; otherwise the subscriber hears about events
    that touch one of these components. A subscription is *active* when it is confirmed, not
    unsubscribed and not disabled. E-mail subscriptions are confirmed by following the
    confirmation link (double opt-in); webhooks created by operators are confirmed at once.
    ``consecutive_failures`` counts deliveries that ended in failure since the last success;
    the outbox disables the subscription when it reaches ``subscription_failure_limit``.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_page_channel", "status_page_id", "channel"),
        # The active subscriptions of a page, counted (the console's overview) without reading
        # the table.
        Index(
            "ix_subscriptions_page_active",
            "status_page_id",
            "channel",
            sqlite_where=text(ACTIVE_SQL),
            postgresql_where=text(ACTIVE_SQL),
        ),
        UniqueConstraint("status_page_id", "email", name="uq_subscriptions_page_email"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    status_page_id: Mapped[str] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    # Lower-cased address, for e-mail subscriptions.
    email: Mapped[str | None] = mapped_column(String(320))
    # For webhook subscriptions (filled by the webhook channel).
    url: Mapped[str | None] = mapped_column(Text)
    signing_secret: Mapped[str | None] = mapped_column(String(200))
    # After a rotation, the old secret also signs until it expires (receivers switch over).
    previous_signing_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_expires_at: Mapped[datetime | None]
    component_ids: Mapped[list[Any]] = mapped_column(default=list)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    # Last time a confirmation e-mail was queued (caps confirmations per address).
    confirmation_sent_at: Mapped[datetime | None]
    confirmations_sent: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def is_active(self) -> bool:
        return (
            self.confirmed_at is not None
            and self.unsubscribed_at is None
            and self.disabled_at is None
        )


class InstanceSecret(Base):
    """Secrets Clarion generates for itself on first use (e.g. the token-signing key when
    ``CLARION_SECRET_KEY`` is empty), so every replica shares them through the database."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


def active_subscriptions_of(page_id: Any) -> tuple[Any, ...]:
    """The conditions for the active subscriptions of ``page_id`` (a column or parameter)."""
    return (
        Subscription.status_page_id == page_id,
        Subscription.confirmed_at.is_not(None),
        Subscription.unsubscribed_at.is_(None),
        Subscription.disabled_at.is_(None),
    )
