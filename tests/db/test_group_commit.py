"""Concurrent lean writes (``Database.lean_write``): on SQLite they share one transaction and
one COMMIT, each in its own savepoint (``clarion.db.group_commit``); a write that fails loses
only its own rows; a write returns only once its rows are committed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select

from clarion.context import AppContext
from clarion.db import lean
from clarion.db.base import insert_into
from clarion.db.lean import LeanStatement
from clarion.http.idempotency_models import IdempotencyRecord
from tests.harness import LiveServer, backend

_INSERT = LeanStatement(
    insert_into(IdempotencyRecord),
    ("id", "endpoint", "key", "request_hash", "response_status", "response_body", "created_at"),
)


class Refused(Exception):
    pass


def _row(ctx: AppContext, tag: str, index: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex[:26],
        "endpoint": tag,
        "key": str(index),
        "request_hash": "x",
        "response_status": 201,
        "response_body": "{}",
        "created_at": ctx.clock.now(),
    }


async def _stored(ctx: AppContext, tag: str) -> set[str]:
    async with ctx.db.read() as session:
        keys = await session.scalars(
            select(IdempotencyRecord.key).where(IdempotencyRecord.endpoint == tag)
        )
        return set(keys)


def test_concurrent_writes_share_a_commit_and_a_failed_one_loses_only_its_rows(
    server: LiveServer,
) -> None:
    tag = f"group-{uuid.uuid4().hex[:8]}"
    commits: list[int] = []
    failing = {3, 11}

    def count(_info: dict[Any, Any]) -> None:
        commits.append(1)

    async def body(ctx: AppContext) -> tuple[list[str], set[str]]:
        engine = ctx.db.write_engine.sync_engine
        lean.on_release(engine, count)
        seen_after: list[set[str]] = []

        async def write(index: int) -> str:
            try:
                async with ctx.db.lean_write() as tx:
                    await tx.run(_INSERT, [_row(ctx, tag, index)])
                    if index in failing:
                        raise Refused(index)
            except Refused:
                return "refused"
            # Returned only once committed: a separate reader sees the row already.
            seen_after.append(await _stored(ctx, tag))
            return "ok" if str(index) in seen_after[-1] else "not yet visible"

        try:
            outcomes = await asyncio.gather(*(write(i) for i in range(20)))
        finally:
            lean.forget(engine, count)
        return list(outcomes), await _stored(ctx, tag)

    outcomes, stored = server.call(body)
    assert [o for i, o in enumerate(outcomes) if i not in failing] == ["ok"] * 18
    assert [outcomes[i] for i in sorted(failing)] == ["refused", "refused"]
    assert stored == {str(i) for i in range(20) if i not in failing}
    if backend() == "sqlite":
        assert 1 <= len(commits) < 20  # shared (typically a single COMMIT for all twenty)


def test_a_lone_write_commits_at_once(server: LiveServer) -> None:
    tag = f"lone-{uuid.uuid4().hex[:8]}"

    async def body(ctx: AppContext) -> int:
        async with ctx.db.lean_write() as tx:
            await tx.run(_INSERT, [_row(ctx, tag, 0)])
        async with ctx.db.read() as session:
            count = await session.scalar(
                select(func.count()).where(IdempotencyRecord.endpoint == tag)
            )
        return int(count or 0)

    assert server.call(body) == 1
