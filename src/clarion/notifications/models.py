"""The notification outbox: one row per message to deliver, written in the same transaction
as the write that caused it and claimed by workers with a lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
DEAD = "dead"
STATUSES = (PENDING, SENDING, SENT, FAILED, DEAD)


class OutboxMessage(Base):
    """One delivery to one subscription.

    Status moves: ``pending`` → ``sending`` (claimed, ``lease_owner``/``lease_expires_at``
    set) → ``sent``; a temporary failure puts it back to ``pending`` with a later
    ``next_attempt_at`` (exponential backoff with jitter), a permanent failure or too many
    attempts makes it ``dead``. ``failed`` marks a row that stopped because its subscription
    was disabled or went away; ``clarion outbox retry`` re-drives ``failed`` and ``dead`` rows.
    A ``sending`` row whose lease expired (a worker died) is claimable again; each claim sets a
    new ``lease_token``, and outcomes are written only where the token still matches (a fenced
    lease). A ``sent`` row keeps ``lease_owner``: the worker that sent it.

    ``dedupe_key`` (subscription, update or subject, kind) is unique: a second fan-out of the
    same event for the same subscriber inserts nothing.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (
        Index("ix_notification_outbox_due", "status", "next_attempt_at"),
        Index("ix_notification_outbox_subscription", "subscription_id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    # incident.created | ... | maintenance.reminder | subscription.confirm
    kind: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(26))
    update_id: Mapped[str | None] = mapped_column(String(26))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    #: Set by each claim (one token per claim); every write of the row's outcome is
    #: conditional on it, so a worker whose lease was taken over writes nothing.
    lease_token: Mapped[str | None] = mapped_column(String(26))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class MaintenanceReminder(Base):
    """A reminder queued for one maintenance window (its id and start), so each window is
    reminded about exactly once; a rescheduled window is a new window and gets a new one."""

    __tablename__ = "maintenance_reminders"

    maintenance_id: Mapped[str] = mapped_column(
        ForeignKey("maintenances.id", ondelete="CASCADE"), primary_key=True
    )
    start_at: Mapped[datetime] = mapped_column(primary_key=True)
    queued_at: Mapped[datetime]
    recipients: Mapped[int] = mapped_column(default=0)
