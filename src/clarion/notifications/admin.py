"""Operator views of the outbox: listing, counting and re-driving failed deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.audit import Actor
from clarion.audit import service as audit
from clarion.notifications.models import DEAD, FAILED, PENDING, OutboxMessage
from clarion.subscribers.models import Subscription


async def list_messages(
    session: AsyncSession, status: str | None, limit: int
) -> list[tuple[OutboxMessage, str]]:
    """Rows newest first with a short description of their target (address or host)."""
    query = (
        select(OutboxMessage, Subscription.email, Subscription.url)
        .outerjoin(Subscription, Subscription.id == OutboxMessage.subscription_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    found = []
    for row, email, url in (await session.execute(query)).all():
        found.append((row, email or _host(url or "") or "?"))
    return found


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {status: count for status, count in rows.all()}


async def retry(
    session: AsyncSession, ids: list[str] | None, now: datetime, *, actor: Actor
) -> tuple[int, list[str]]:
    """Put failed/dead rows (the given ones, or all with ``ids=None``) back to pending, due now,
    attempts reset; re-enable their disabled subscriptions. Returns (how many were queued,
    the given ids that were not failed or dead)."""
    query = select(OutboxMessage.id, OutboxMessage.subscription_id).where(
        OutboxMessage.status.in_((FAILED, DEAD))
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    rows = (await session.execute(query)).all()
    found = {row_id for row_id, _ in rows}
    skipped = [i for i in (ids or []) if i not in found]
    if not rows:
        return 0, skipped
    row_ids = [row_id for row_id, _ in rows]
    audit.record(
        session,
        actor,
        "outbox.retry",
        object_type="outbox",
        object_id=row_ids[0] if len(row_ids) == 1 else "*",
        at=now,
        summary=f"queued {len(row_ids)} failed or dead deliveries again",
        detail={"count": len(row_ids), "ids": row_ids[:100], "all_failed": ids is None},
    )
    for start in range(0, len(row_ids), 500):
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(row_ids[start : start + 500]))
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    subscription_ids = list({sub_id for _, sub_id in rows})
    for start in range(0, len(subscription_ids), 500):
        await session.execute(
            update(Subscription)
            .where(
                Subscription.id.in_(subscription_ids[start : start + 500]),
                Subscription.disabled_at.is_not(None),
            )
            .values(disabled_at=None, consecutive_failures=0, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(rows), skipped
