"""Concurrent lean writes (``Database.lean_write``) share one transaction and one COMMIT: on
SQLite each in its own savepoint (``clarion.db.group_commit``), on PostgreSQL each as one
statement (``clarion.db.group_commit_pg``); a write that fails, in the block or in the
database, loses only its own rows; a write returns only once its rows are committed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from clarion.context import AppContext
from clarion.db import lean
from clarion.db.group_commit_pg import PgGroupCommit
from clarion.db.lean import INTEGRITY_ERRORS
from clarion.http.idempotency_models import IdempotencyRecord
from tests.db.records import RECORD_INSERT, record_row
from tests.harness import LiveServer, backend


class Refused(Exception):
    pass


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
                    await tx.run(RECORD_INSERT, [record_row(ctx, tag, index)])
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
    assert_only_the_refused_lost(outcomes, stored, failing)
    if backend() == "sqlite":
        assert 1 <= len(commits) < 20  # shared (typically a single COMMIT for all twenty)


def assert_only_the_refused_lost(outcomes: list[str], stored: set[str], failing: set[int]) -> None:
    """Of twenty writes, the ``failing`` two were refused and the other eighteen committed,
    each visible to its writer once its block had ended."""
    assert [o for i, o in enumerate(outcomes) if i not in failing] == ["ok"] * 18
    assert [outcomes[i] for i in sorted(failing)] == ["refused", "refused"]
    assert stored == {str(i) for i in range(20) if i not in failing}


def test_a_lone_write_commits_at_once(server: LiveServer) -> None:
    tag = f"lone-{uuid.uuid4().hex[:8]}"

    async def body(ctx: AppContext) -> int:
        async with ctx.db.lean_write() as tx:
            await tx.run(RECORD_INSERT, [record_row(ctx, tag, 0)])
        async with ctx.db.read() as session:
            count = await session.scalar(
                select(func.count()).where(IdempotencyRecord.endpoint == tag)
            )
        return int(count or 0)

    assert server.call(body) == 1


def test_a_write_the_database_refuses_loses_only_its_rows(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two of twenty concurrent writes insert a row whose id is taken: they get the integrity
    error, and the other eighteen are committed (on PostgreSQL, in fewer transactions)."""
    tag = f"refused-{uuid.uuid4().hex[:8]}"
    taken = uuid.uuid4().hex[:26]
    failing = {4, 13}
    batches: list[int] = []
    run = PgGroupCommit._run

    async def counted(self: PgGroupCommit, batch: Any) -> None:
        batches.append(1)
        await run(self, batch)

    monkeypatch.setattr(PgGroupCommit, "_run", counted)

    async def body(ctx: AppContext) -> tuple[list[str], set[str]]:
        async with ctx.db.lean_write() as tx:
            await tx.run(RECORD_INSERT, [record_row(ctx, f"{tag}-first", 0, taken)])
        batches.clear()

        async def write(index: int) -> str:
            try:
                async with ctx.db.lean_write() as tx:
                    await tx.run(RECORD_INSERT, [record_row(ctx, tag, index)])
                    if index in failing:
                        await tx.run(RECORD_INSERT, [record_row(ctx, tag, 100 + index, taken)])
            except INTEGRITY_ERRORS:
                return "refused"
            return "ok" if str(index) in await _stored(ctx, tag) else "not yet visible"

        outcomes = await asyncio.gather(*(write(i) for i in range(20)))
        return list(outcomes), await _stored(ctx, tag)

    outcomes, stored = server.call(body)
    assert_only_the_refused_lost(outcomes, stored, failing)
    if backend() == "postgresql":
        assert 1 <= len(batches) < 18, batches  # shared
