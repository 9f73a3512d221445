"""``idempotency_key`` on create endpoints: the first response is stored with the created rows,
in the same transaction, and replayed for every later request with the same key.

Keys are scoped to the endpoint (one namespace per create endpoint, shared by every API key of
the installation). A reused key with a different payload is refused with 422
``idempotency_key_reused``. Concurrent duplicates: on SQLite, writes take turns, so the second
finds the first's record and replays it. On PostgreSQL both may do the work, but the record is
inserted in the same transaction, last: the second insert waits on the unique index until the
first commits, fails, and its whole transaction (incident, ledger rows, notifications) rolls
back before it replays the winner's response. Exactly one set of rows is ever committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Row, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.db.engine import is_unique_violation
from clarion.errors import ValidationFailed
from clarion.http.idempotency_models import UNIQUE_KEY, IdempotencyRecord
from clarion.http.json import drop_nones
from clarion.ids import new_id

_RECORD = select(
    IdempotencyRecord.request_hash,
    IdempotencyRecord.response_status,
    IdempotencyRecord.response_body,
).where(
    IdempotencyRecord.endpoint == bindparam("endpoint"),
    IdempotencyRecord.key == bindparam("key"),
)

#: ``action(session)``: the write, in the request's transaction; returns the response body.
Action = Callable[[AsyncSession], Awaitable[dict[str, Any]]]
#: ``then(session)``: what a caller adds to a create's transaction (it runs only when the create
#: does the work, not when it replays an earlier one).
Then = Callable[[AsyncSession], Awaitable[None]]


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _replay(record: Row[str, int, str], digest: str) -> tuple[int, dict[str, Any]]:
    request_hash, status, body = record
    if request_hash != digest:
        raise ValidationFailed.at(
            "idempotency_key_reused",
            "This idempotency_key was already used with a different request body",
            "idempotency_key",
        )
    return int(status), orjson.loads(body)


async def run_idempotent(
    ctx: AppContext,
    endpoint: str,
    key: str,
    payload: dict[str, Any],
    action: Action,
    status: int = 201,
) -> tuple[int, dict[str, Any]]:
    """Run ``action`` once per (endpoint, key); return (status, body), original or replayed.

    1. In one write transaction: a stored record for the key is replayed; else ``action``
       runs, its rows are flushed, and the record is inserted last.
    2. Only a violation of the record's own unique index (a concurrent request with the same
       key committed first) is caught: the transaction has rolled back, and the winner's
       record is replayed. Every other error propagates unchanged."""
    digest = payload_hash(payload)
    params = {"endpoint": endpoint, "key": key}
    try:
        async with ctx.db.write() as session:
            existing = (await session.execute(_RECORD, params)).first()
            if existing is not None:
                return _replay(existing, digest)
            body = drop_nones(await action(session))
            await session.flush()  # the action's own constraint failures surface here
            await session.execute(
                insert(IdempotencyRecord).values(
                    id=new_id(),
                    endpoint=endpoint,
                    key=key,
                    request_hash=digest,
                    response_status=status,
                    response_body=orjson.dumps(body).decode(),
                    created_at=ctx.clock.now(),
                )
            )
            return status, body
    except IntegrityError as error:
        if not is_unique_violation(error, UNIQUE_KEY):
            raise
        async with ctx.db.read() as session:
            winner = (await session.execute(_RECORD, params)).first()
        if winner is None:  # the winner's record is gone again (purged): not a replay
            raise
        return _replay(winner, digest)


async def purge_expired(session: AsyncSession, ctx: AppContext) -> int:
    """Forget keys older than the retention period."""
    cutoff = ctx.clock.now() - timedelta(hours=ctx.settings.idempotency_retention_hours)
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
