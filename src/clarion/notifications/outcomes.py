"""Recording what became of delivered outbox rows, every write fenced by the row's lease token.

A write changes a row only while it is still ``sending`` under the token of the claim that
delivered it: when another worker has claimed the row since (this worker's lease expired), the
write changes nothing and nothing counts against the subscription.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.notifications.models import DEAD, PENDING, SENDING, SENT, OutboxMessage
from clarion.notifications.outbox import (
    DeliveryFailure,
    PermanentFailure,
    TemporaryFailure,
    backoff,
)
from clarion.subscribers.models import Subscription

log = logging.getLogger("clarion.outbox")

ERROR_LIMIT = 500
#: Rows per ``IN (…)`` list.
SLICE = 500


class Skipped(DeliveryFailure):
    """The subscription went away or stopped: nothing to send (``status`` says which)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Outcome:
    """What became of one leased row: sent (no ``error``), failed (``error``), or released
    unattempted (``release_at``: back to ``pending``, due then, the attempt not counted).
    ``retry_at`` overrides the backoff of a temporary failure (a paused relay's end)."""

    row: OutboxMessage
    token: str
    error: Exception | None = None
    release_at: datetime | None = None
    retry_at: datetime | None = None


def _fenced(ids: list[str], token: str) -> Any:
    return (
        OutboxMessage.id.in_(ids),
        OutboxMessage.lease_token == token,
        OutboxMessage.status == SENDING,
    )


async def write_outcomes(ctx: AppContext, batch: list[Outcome]) -> int:
    """Record ``batch`` in one transaction; returns how many were fenced out (their lease was
    taken over, so nothing was written for them)."""
    now = ctx.clock.now()
    sent: dict[str, list[Outcome]] = defaultdict(list)
    released: dict[tuple[str, datetime], list[Outcome]] = defaultdict(list)
    failed: list[Outcome] = []
    for outcome in batch:
        if outcome.release_at is not None:
            released[(outcome.token, outcome.release_at)].append(outcome)
        elif outcome.error is None:
            sent[outcome.token].append(outcome)
        else:
            failed.append(outcome)
    written = 0
    async with ctx.db.write() as session:
        delivered_to: set[str] = set()
        for token, outcomes in sent.items():
            by_id = {o.row.id: o for o in outcomes}
            for part in slices(list(by_id), SLICE):
                done = await session.scalars(
                    update(OutboxMessage)
                    .where(*_fenced(part, token))
                    .values(status=SENT, sent_at=now, lease_expires_at=None)
                    .returning(OutboxMessage.id)
                    .execution_options(synchronize_session=False)
                )
                for row_id in done:
                    written += 1
                    delivered_to.add(by_id[row_id].row.subscription_id)
        for part in slices(sorted(delivered_to), SLICE):
            await session.execute(
                update(Subscription)
                .where(Subscription.id.in_(part), Subscription.consecutive_failures > 0)
                .values(consecutive_failures=0)
                .execution_options(synchronize_session=False)
            )
        for (token, due), outcomes in released.items():
            for part in slices([o.row.id for o in outcomes], SLICE):
                result = await session.scalars(
                    update(OutboxMessage)
                    .where(*_fenced(part, token))
                    .values(
                        status=PENDING,
                        next_attempt_at=due,
                        attempts=OutboxMessage.attempts - 1,
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                    .returning(OutboxMessage.id)
                    .execution_options(synchronize_session=False)
                )
                written += len(result.all())
        for outcome in failed:
            written += await _record_failure(session, ctx, outcome, now)
    return len(batch) - written


def failure_values(
    ctx: AppContext, outcome: Outcome, now: datetime
) -> tuple[dict[str, Any], bool, bool]:
    """The row's new values for a failed attempt, whether it counts against the subscription,
    and whether it disables the subscription at once.

    1. Skipped (the subscription stopped): ``failed`` or ``dead``, never counted.
    2. Permanent: ``dead``; counted (410 disables).
    3. Temporary: ``pending`` again after the backoff (or ``retry_at``), not counted; ``dead``
       once the row is ``outbox_max_age_hours`` old, or, when the destination is the
       subscriber's own (``attempts_limited``), after ``outbox_max_attempts`` attempts, which
       then counts once.
    4. Anything else is a crash of a channel: retried like a temporary failure, never counted.
    """
    row, error = outcome.row, outcome.error
    assert error is not None
    settings = ctx.settings
    message = str(error) or type(error).__name__
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    counts = error.counts_against_subscription if isinstance(error, DeliveryFailure) else False
    disable = False
    if isinstance(error, Skipped):
        values["status"] = error.status
        counts = False
    elif isinstance(error, PermanentFailure):
        values["status"] = DEAD
        disable = error.disable_subscription
    else:
        if not isinstance(error, DeliveryFailure):
            log.warning(
                "delivery of outbox row %s crashed: %s",
                row.id,
                type(error).__name__,
                exc_info=error,
            )
        temporary = error if isinstance(error, TemporaryFailure) else None
        limited = temporary is None or temporary.attempts_limited
        max_age = timedelta(hours=settings.outbox_max_age_hours)
        if now - row.created_at >= max_age:
            values["status"] = DEAD
            message += f" (given up: older than {settings.outbox_max_age_hours:g} hours)"
            counts = temporary is not None and limited
        elif limited and row.attempts >= settings.outbox_max_attempts:
            values["status"] = DEAD
            message += f" (given up after {row.attempts} attempts)"
            counts = temporary is not None
        else:
            values["status"] = PENDING
            values["next_attempt_at"] = outcome.retry_at or now + backoff(
                row.attempts,
                settings.outbox_retry_base_seconds,
                temporary.retry_after if temporary is not None else None,
            )
    values["last_error"] = message[:ERROR_LIMIT]
    return values, counts, disable


async def _record_failure(
    session: AsyncSession, ctx: AppContext, outcome: Outcome, now: datetime
) -> int:
    """Write one failed attempt (fenced); 1 when written, 0 when fenced out."""
    values, counts, disable = failure_values(ctx, outcome, now)
    row = outcome.row
    result = await session.scalars(
        update(OutboxMessage)
        .where(*_fenced([row.id], outcome.token))
        .values(**values)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    if not result.all():
        return 0
    if counts:
        await _count_failure(session, ctx, row.subscription_id, now, disable)
    return 1


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


def slices(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
