"""The notification outbox: fan-out inside the writing transaction, delivery by fenced leases.

Contract:

* ``Outbox.record`` (the ``EventSink`` services are given) writes one row per active
  subscription that should hear about an event with ``notify_subscribers`` set, in the same
  transaction as the incident or maintenance write. The payload is snapshotted then.
* ``claim`` leases due rows to a worker under a new ``lease_token``; ``delivery`` (the
  ``deliver_outbox`` job) delivers them through their channel (``channels.deliverer``) and
  ``outcomes`` records what happened, each write conditional on the token (a fenced lease: a
  worker whose lease was taken over sends nothing more and writes nothing). A row whose lease
  expired (its worker died) is claimed again, so a crash loses nothing; a unique ``dedupe_key``
  per subscription, update and kind keeps a repeated fan-out from queueing a second copy.
* Channels: ``deliver(ctx, row, subscription, lease)`` returns on success and raises one of the
  failures below; ``lease()`` is called right before the message leaves (it raises
  ``LeaseLost`` when this worker may no longer send the row).

Failures, by who is at fault:

* ``PermanentFailure``: the subscriber's side refused for good (an unknown mailbox, a webhook
  4xx): ``dead`` at once, and it counts against the subscription; after
  ``subscription_failure_limit`` consecutive ones the subscription is disabled (WARNING logged).
* ``TemporaryFailure``: retried with exponential backoff and jitter, never counted per attempt.
  ``attempts_limited`` (a webhook endpoint that keeps failing): ``dead`` after
  ``outbox_max_attempts``, which counts once against the subscription. Otherwise (an SMTP 4xx)
  the message waits until it is ``outbox_max_age_hours`` old.
* ``RelayUnavailable``: Clarion's own SMTP relay cannot be used (down, refusing with 421, TLS
  or authentication failing): the e-mail lane pauses and the messages wait for the relay
  (until ``outbox_max_age_hours``), delivered when it returns; nothing counts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.events import DomainEvent
from clarion.ids import new_id
from clarion.notifications.models import PENDING, SENDING, OutboxMessage
from clarion.notifications.payloads import build_payload
from clarion.settings import Settings
from clarion.subscribers.models import Subscription, active_subscriptions_of

INCIDENT_KINDS = ("incident.created", "incident.updated", "incident.resolved")
MAINTENANCE_KINDS = (
    "maintenance.scheduled",
    "maintenance.started",
    "maintenance.updated",
    "maintenance.completed",
)
#: Events that reach subscribers when ``notify_subscribers`` is set.
NOTIFYING_KINDS = frozenset(INCIDENT_KINDS + MAINTENANCE_KINDS)
#: Kinds queued by Clarion itself (not by domain events).
CONFIRM_KIND = "subscription.confirm"
REMINDER_KIND = "maintenance.reminder"
MAX_BACKOFF = timedelta(hours=6)

#: Called by a channel right before a message leaves; raises ``LeaseLost`` when it may not.
LeaseCheck = Callable[[], None]


class LeaseLost(Exception):
    """This worker's lease on the row ran out or was taken over: it must not send the row."""


def no_lease_check() -> None:
    """The ``LeaseCheck`` of a delivery that holds no lease (nothing to check)."""


class DeliveryFailure(Exception):
    """Base of what a channel raises; the message is stored as ``last_error`` (no secrets).

    ``counts_against_subscription``: the subscriber's side refused, so the failure counts
    towards disabling the subscription.
    """

    counts_against_subscription: bool = False


class TemporaryFailure(DeliveryFailure):
    """Try again later. ``retry_after`` (seconds) overrides the backoff when the receiver
    asked for a delay. ``attempts_limited``: the destination is the subscriber's own (a webhook
    endpoint), so the message is given up after ``outbox_max_attempts``; otherwise it waits
    until ``outbox_max_age_hours``. ``unreachable``: the destination could not be reached at all
    (no connection, a timeout), so this worker holds its other messages for it back a while."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        attempts_limited: bool = True,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.attempts_limited = attempts_limited
        self.unreachable = unreachable


class RelayUnavailable(TemporaryFailure):
    """Clarion's own SMTP relay cannot take mail (down, 421, TLS, authentication, not
    configured): not the subscriber's doing. The e-mail lane pauses; the message waits."""

    def __init__(self, message: str) -> None:
        super().__init__(message, attempts_limited=False, unreachable=True)


class PermanentFailure(DeliveryFailure):
    """This message can never be delivered; it counts against the subscription, and
    ``disable_subscription`` disables it at once (e.g. HTTP 410 Gone)."""

    counts_against_subscription = True

    def __init__(self, message: str, disable_subscription: bool = False) -> None:
        super().__init__(message)
        self.disable_subscription = disable_subscription


class Outbox:
    """The ``EventSink`` of a running Clarion: queues the notifications an event calls for
    (payloads link to the public site, so they need the settings)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def record(self, session: AsyncSession, event: DomainEvent) -> None:
        await fan_out(session, event, self.settings)


def targets(subscription_components: Sequence[str], event_components: set[str]) -> bool:
    """Whole-page subscribers hear everything; the others hear about their components."""
    return not subscription_components or bool(
        event_components.intersection(subscription_components)
    )


def dedupe_key(subscription_id: str, reference: str, kind: str) -> str:
    return f"{subscription_id}:{reference}:{kind}"


#: Built once: it runs on every notifying write.
_ACTIVE_SUBSCRIPTIONS = select(
    Subscription.id, Subscription.channel, Subscription.component_ids
).where(*active_subscriptions_of(bindparam("page_id")))


async def fan_out(session: AsyncSession, event: DomainEvent, settings: Settings) -> None:
    """Queue one row per active subscription of the page that should hear about ``event``."""
    if not event.notify_subscribers or event.kind not in NOTIFYING_KINDS:
        return
    subscriptions = (
        await session.execute(_ACTIVE_SUBSCRIPTIONS, {"page_id": event.status_page_id})
    ).all()
    if not subscriptions:
        return
    payload = await build_payload(session, event, settings)
    affected = set(event.component_ids)
    data = payload.get("data", {})
    affected.update(c["id"] for c in data.get("affected_components", []) if "id" in c)
    now = event.occurred_at
    reference = event.update_id or event.subject_id
    rows = [
        {
            "id": new_id(),
            "subscription_id": sub_id,
            "channel": channel,
            "kind": event.kind,
            "subject_id": event.subject_id,
            "update_id": event.update_id,
            "payload": payload,
            "dedupe_key": dedupe_key(sub_id, reference, event.kind),
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for sub_id, channel, components in subscriptions
        if targets(components or [], affected)
    ]
    await enqueue(session, rows)


async def enqueue(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows, skipping any whose ``dedupe_key`` is already queued."""
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await session.execute(
            pg_insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        await session.execute(
            sqlite_insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"]),
            rows,
        )


# -- claiming --------------------------------------------------------------------------------


def _claimable(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == SENDING, OutboxMessage.lease_expires_at < now),
    )


@dataclass(frozen=True)
class Claim:
    """Rows leased by one ``claim``: their ids and the token every outcome write must match.
    ``expires_at`` is when the lease runs out unless renewed."""

    token: str
    ids: list[str]
    expires_at: datetime


async def claim(
    ctx: AppContext, owner: str, limit: int, channels: Sequence[str] | None = None
) -> Claim:
    """Lease up to ``limit`` due rows (of ``channels``, or any) to ``owner`` under a new token.

    One ``UPDATE … WHERE id IN (SELECT …) RETURNING id``. On PostgreSQL the select is a
    materialised CTE with ``FOR UPDATE SKIP LOCKED`` so concurrent workers split the rows
    instead of waiting on each other; on SQLite writes are serialised, so the statement is
    atomic by itself.
    The outer condition is repeated so a row finished by another worker between the two
    reads is never taken.
    """
    now = ctx.clock.now()
    token = new_id()
    expires_at = now + timedelta(seconds=ctx.settings.outbox_lease_seconds)
    due = (
        select(OutboxMessage.id)
        .where(_claimable(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if channels is not None:
        due = due.where(OutboxMessage.channel.in_(list(channels)))
    if ctx.db.dialect == "postgresql":
        # A materialised CTE, not ``IN (subquery)``: PostgreSQL may run a LIMIT subquery more
        # than once inside an UPDATE (each run skipping what the last one locked), which
        # claimed far more than ``limit`` rows.
        cte = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        chosen: Any = select(cte.c.id).scalar_subquery()
    else:
        chosen = due.scalar_subquery()
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(chosen), _claimable(now))
        .values(
            status=SENDING,
            lease_owner=owner,
            lease_token=token,
            lease_expires_at=expires_at,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    async with ctx.db.write() as session:
        ids = list((await session.scalars(statement)).all())
    return Claim(token, ids, expires_at)


async def deliver_due(ctx: AppContext) -> int:
    """Claim one batch, deliver it and record every outcome; returns how many rows were
    claimed (tests and ``clarion worker --once``; the worker runs ``delivery.run``)."""
    from clarion.notifications.delivery import deliver_once

    return await deliver_once(ctx)


def backoff(attempts: int, base_seconds: float, retry_after: float | None = None) -> timedelta:
    """Delay before attempt ``attempts + 1``: ``base · 2^(attempts-1)``, scaled by a random
    factor in [0.5, 1.0] (jitter spreads a burst of retries), capped at six hours. A receiver's
    ``Retry-After`` wins when it is longer, within the same cap."""
    delay = base_seconds * (2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return min(timedelta(seconds=delay), MAX_BACKOFF)
