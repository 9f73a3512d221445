"""The notification outbox: fan-out inside the writing transaction, delivery by leased claims.

Contract:

* ``Outbox.record`` (the ``EventSink`` services are given) writes one row per active
  subscription that should hear about an event with ``notify_subscribers`` set, in the same
  transaction as the incident or maintenance write. The payload is snapshotted then.
* ``deliver_due`` (the ``deliver_outbox`` job) claims due rows with a lease, delivers them
  through their channel (``channels.deliverer``), concurrently and bounded, and
  records the outcome. A row whose lease expired (its worker died) is claimed again, so a
  crash loses nothing; a unique ``dedupe_key`` per subscription, update and kind keeps a
  repeated fan-out from queueing a second copy.
* Channels: ``deliver(ctx, row, subscription)`` returns on success and raises ``TemporaryFailure``
  (retried with exponential backoff and jitter up to ``outbox_max_attempts``, then ``dead``) or
  ``PermanentFailure`` (``dead`` at once). Every failed attempt counts against the subscription;
  after ``subscription_failure_limit`` consecutive ones the subscription is disabled and a WARNING
  is logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.events import DomainEvent
from clarion.ids import new_id
from clarion.notifications.channels import deliverer
from clarion.notifications.models import DEAD, FAILED, PENDING, SENDING, SENT, OutboxMessage
from clarion.notifications.payloads import build_payload
from clarion.settings import Settings
from clarion.subscribers.models import Subscription, active_subscriptions_of

log = logging.getLogger("clarion.outbox")

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
ERROR_LIMIT = 500


class DeliveryFailure(Exception):
    """Base of what a channel raises; the message is stored as ``last_error`` (no secrets).

    ``counts_against_subscription`` is false for failures that are not the subscriber's doing
    (Clarion's own SMTP server down or misconfigured): those never disable a subscription.
    """

    counts_against_subscription: bool = True


class TemporaryFailure(DeliveryFailure):
    """Try again later. ``retry_after`` (seconds) overrides the backoff when the receiver
    asked for a delay."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        counts_against_subscription: bool = True,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.counts_against_subscription = counts_against_subscription


class PermanentFailure(DeliveryFailure):
    """This message can never be delivered; ``disable_subscription`` also disables the
    subscription at once (e.g. HTTP 410 Gone)."""

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


async def claim(ctx: AppContext, owner: str, limit: int) -> list[str]:
    """Lease up to ``limit`` due rows to ``owner`` and return their ids.

    One ``UPDATE … WHERE id IN (SELECT …) RETURNING id``. On PostgreSQL the select is a
    materialised CTE with ``FOR UPDATE SKIP LOCKED`` so concurrent workers split the rows
    instead of waiting on each other; on SQLite writes are serialised, so the statement is
    atomic by itself.
    The outer condition is repeated so a row finished by another worker between the two
    reads is never taken.
    """
    now = ctx.clock.now()
    due = (
        select(OutboxMessage.id)
        .where(_claimable(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
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
            lease_expires_at=now + timedelta(seconds=ctx.settings.outbox_lease_seconds),
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    async with ctx.db.write() as session:
        return list((await session.scalars(statement)).all())


# -- delivery --------------------------------------------------------------------------------


@dataclass
class Outcome:
    row: OutboxMessage
    subscription: Subscription | None
    error: Exception | None = None


#: Outbox rows (and their subscriptions) loaded per statement when delivering a batch.
LOAD_SLICE = 25


def _slices(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def deliver_due(ctx: AppContext) -> int:
    """Claim one batch and deliver it; returns how many rows were handled."""
    ids = await claim(ctx, ctx.instance_id, ctx.settings.outbox_batch_size)
    if not ids:
        return 0
    rows: list[OutboxMessage] = []
    subscriptions: dict[str, Subscription] = {}
    async with ctx.db.read() as session:
        # In slices, letting other work run between them: on SQLite statements run on the
        # event loop's thread, and loading a whole batch with its payloads at once held up the
        # API requests that arrived meanwhile.
        for part in _slices(ids, LOAD_SLICE):
            rows.extend(
                await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(part)))
            )
            await asyncio.sleep(0)
        for part in _slices(sorted({r.subscription_id for r in rows}), LOAD_SLICE):
            found = await session.scalars(select(Subscription).where(Subscription.id.in_(part)))
            subscriptions.update((s.id, s) for s in found)
            await asyncio.sleep(0)
    outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue()
    recorder = asyncio.create_task(_record_outcomes(ctx, outcomes))
    limit = asyncio.Semaphore(max(1, ctx.settings.outbox_concurrency))

    # One subscriber's messages go out one after another, oldest first (an "investigating"
    # never overtakes the "resolved" that followed it); different subscribers in parallel.
    by_subscription: dict[str, list[OutboxMessage]] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        by_subscription.setdefault(row.subscription_id, []).append(row)

    async def in_order(queue: list[OutboxMessage]) -> None:
        for row in queue:
            async with limit:
                subscription = subscriptions.get(row.subscription_id)
                error: Exception | None = None
                try:
                    await _deliver(ctx, row, subscription)
                except Exception as exc:
                    error = exc
                outcomes.put_nowait(Outcome(row, subscription, error))

    try:
        await asyncio.gather(*(in_order(q) for q in by_subscription.values()))
    finally:
        outcomes.put_nowait(None)
        await recorder
    return len(rows)


class _Skip(DeliveryFailure):
    """The subscription went away or stopped: nothing to send (``status`` says which)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


async def _deliver(ctx: AppContext, row: OutboxMessage, subscription: Subscription | None) -> None:
    if subscription is None or subscription.unsubscribed_at is not None:
        raise _Skip("the subscription no longer exists or was unsubscribed", DEAD)
    if subscription.disabled_at is not None:
        raise _Skip("the subscription is disabled", FAILED)
    if row.kind != CONFIRM_KIND and subscription.confirmed_at is None:
        raise _Skip("the subscription is not confirmed", DEAD)
    deliver = deliverer(row.channel)
    if deliver is None:
        raise TemporaryFailure(f"no channel named {row.channel!r}")
    await deliver(ctx, row, subscription)


RECORD_WINDOW_SECONDS = 0.02
RECORD_BATCH = 500


async def _record_outcomes(ctx: AppContext, outcomes: asyncio.Queue[Outcome | None]) -> None:
    """Write outcomes as they arrive: whatever arrives within ``RECORD_WINDOW_SECONDS`` of the
    first one goes into one transaction, so a sent message is marked within moments (a crash
    then re-sends as little as possible) without a write per message."""
    loop = asyncio.get_running_loop()
    finished = False
    while not finished:
        batch: list[Outcome] = []
        item = await outcomes.get()
        deadline = loop.time() + RECORD_WINDOW_SECONDS
        while True:
            if item is None:
                finished = True
                break
            batch.append(item)
            remaining = deadline - loop.time()
            if len(batch) >= RECORD_BATCH or remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(outcomes.get(), remaining)
            except TimeoutError:
                break
        if batch:
            try:
                await _write_outcomes(ctx, batch)
            except Exception:
                # The rows stay leased; when the lease expires they are delivered again.
                log.exception("could not record %d delivery outcomes", len(batch))


async def _write_outcomes(ctx: AppContext, batch: list[Outcome]) -> None:
    now = ctx.clock.now()
    sent = [o for o in batch if o.error is None]
    failed = [o for o in batch if o.error is not None]
    async with ctx.db.write() as session:
        if sent:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([o.row.id for o in sent]))
                .values(status=SENT, sent_at=now, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(Subscription)
                .where(
                    Subscription.id.in_({o.row.subscription_id for o in sent}),
                    Subscription.consecutive_failures > 0,
                )
                .values(consecutive_failures=0)
                .execution_options(synchronize_session=False)
            )
        for outcome in failed:
            await _record_failure(session, ctx, outcome, now)


async def _record_failure(
    session: AsyncSession, ctx: AppContext, outcome: Outcome, now: datetime
) -> None:
    row, error = outcome.row, outcome.error
    assert error is not None
    message = str(error) or type(error).__name__
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": message[:ERROR_LIMIT],
    }
    counts_against_subscription = getattr(error, "counts_against_subscription", True)
    disable = False
    if isinstance(error, _Skip):
        values["status"] = error.status
        counts_against_subscription = False
    elif isinstance(error, PermanentFailure):
        values["status"] = DEAD
        disable = error.disable_subscription
    elif row.attempts >= ctx.settings.outbox_max_attempts:
        values["status"] = DEAD
    else:
        values["status"] = PENDING
        values["next_attempt_at"] = now + backoff(
            row.attempts,
            ctx.settings.outbox_retry_base_seconds,
            error.retry_after if isinstance(error, TemporaryFailure) else None,
        )
        if not isinstance(error, DeliveryFailure):
            log.warning(
                "delivery of outbox row %s crashed: %s",
                row.id,
                type(error).__name__,
                exc_info=error,
            )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if counts_against_subscription:
        await _count_failure(session, ctx, row.subscription_id, now, disable)


async def _count_failure(
    session: AsyncSession, ctx: AppContext, subscription_id: str, now: datetime, disable: bool
) -> None:
    subscription = await session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None:
        return
    subscription.consecutive_failures += 1
    limit = ctx.settings.subscription_failure_limit
    if subscription.disabled_at is None and (disable or subscription.consecutive_failures >= limit):
        subscription.disabled_at = now
        subscription.updated_at = now
        log.warning(
            "disabled %s subscription %s of status page %s after %d consecutive failed "
            "deliveries; re-drive with `clarion outbox retry`",
            subscription.channel,
            subscription.id,
            subscription.status_page_id,
            subscription.consecutive_failures,
        )
    await session.flush()


def backoff(attempts: int, base_seconds: float, retry_after: float | None = None) -> timedelta:
    """Delay before attempt ``attempts + 1``: ``base · 2^(attempts-1)``, scaled by a random
    factor in [0.5, 1.0] (jitter spreads a burst of retries), capped at six hours. A receiver's
    ``Retry-After`` wins when it is longer, within the same cap."""
    delay = base_seconds * (2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return min(timedelta(seconds=delay), MAX_BACKOFF)
