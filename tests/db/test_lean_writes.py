"""A lean write (``Database.lean_write``) is one transaction: its rows all go in or none do,
and a read after a write in the block sees it. On PostgreSQL its INSERTs are held back and sent
as one statement at the end (``clarion.db.lean.AutocommitTx``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import bindparam, select

from clarion.context import AppContext
from clarion.db.lean import INTEGRITY_ERRORS, AutocommitTx, LeanStatement
from clarion.http.idempotency_models import IdempotencyRecord
from tests.db.records import RECORD_INSERT, record_row
from tests.harness import LiveServer

_KEYS = LeanStatement(
    select(IdempotencyRecord.key).where(IdempotencyRecord.endpoint == bindparam("endpoint"))
)


async def _stored(ctx: AppContext, tag: str) -> set[str]:
    async with ctx.db.lean_read() as tx:
        return {row.key for row in await tx.fetch(_KEYS, {"endpoint": tag})}


class _Counting:
    """A driver connection that counts the statements sent through it."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.sent: list[str] = []

    async def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(sql)
        return await self.driver.execute(sql, *args, **kwargs)


def test_a_failing_insert_writes_nothing_of_its_block(server: LiveServer) -> None:
    tag = f"atomic-{uuid.uuid4().hex[:8]}"
    taken = uuid.uuid4().hex[:26]

    async def body(ctx: AppContext) -> tuple[bool, set[str]]:
        async with ctx.db.lean_write() as tx:
            await tx.run(RECORD_INSERT, [record_row(ctx, tag, "first", taken)])
        refused = False
        try:
            async with ctx.db.lean_write() as tx:
                await tx.run(
                    RECORD_INSERT, [record_row(ctx, tag, "second"), record_row(ctx, tag, "third")]
                )
                # The id is taken:
                await tx.run(RECORD_INSERT, [record_row(ctx, tag, "fourth", taken)])
        except INTEGRITY_ERRORS:
            refused = True
        return refused, await _stored(ctx, tag)

    assert server.call(body) == (True, {"first"})


def test_a_read_after_a_write_sees_it_and_the_block_commits(server: LiveServer) -> None:
    tag = f"read-own-{uuid.uuid4().hex[:8]}"

    async def body(ctx: AppContext) -> tuple[set[str], set[str], set[str]]:
        async with ctx.db.lean_write() as tx:
            await tx.run(RECORD_INSERT, [record_row(ctx, tag, "a")])
            inside = {row.key for row in await tx.fetch(_KEYS, {"endpoint": tag})}
            await tx.run(RECORD_INSERT, [record_row(ctx, tag, "b")])
            outside = await _stored(ctx, tag)  # another connection: nothing committed yet
        return inside, outside, await _stored(ctx, tag)

    assert server.call(body) == ({"a"}, set(), {"a", "b"})


def test_postgresql_sends_a_blocks_inserts_as_one_statement(server: LiveServer) -> None:
    if server.ctx.db.is_sqlite:
        pytest.skip("SQLite's lean writes are group-committed instead")
    tag = f"together-{uuid.uuid4().hex[:8]}"

    async def body(ctx: AppContext) -> tuple[list[str], set[str]]:
        async with ctx.db.lean_write() as tx:
            assert isinstance(tx, AutocommitTx)
            counting = _Counting(tx.driver)
            tx.driver = counting
            try:
                await tx.fetch(_KEYS, {"endpoint": tag})
                await tx.run(RECORD_INSERT, [record_row(ctx, tag, "a")])
                await tx.run(RECORD_INSERT, [record_row(ctx, tag, "b"), record_row(ctx, tag, "c")])
                await tx.commit()
            finally:
                tx.driver = counting.driver
        return counting.sent, await _stored(ctx, tag)

    sent, stored = server.call(body)
    assert stored == {"a", "b", "c"}
    assert len(sent) == 2, sent  # the read, then every insert together: no BEGIN, no COMMIT
    assert sent[1].startswith("WITH w0 AS (INSERT INTO idempotency_records"), sent


def test_rows_read_ahead_answer_the_next_fetch_of_that_read_once(server: LiveServer) -> None:
    tag = f"ahead-{uuid.uuid4().hex[:8]}"
    other = f"{tag}-other"

    async def body(ctx: AppContext) -> list[set[str]]:
        async with ctx.db.lean_write() as tx:
            await tx.run(RECORD_INSERT, [record_row(ctx, tag, "stored")])
        seen: list[set[str]] = []
        async with ctx.db.lean_write() as tx:
            first, second = await tx.fetch_together(
                [(_KEYS, {"endpoint": tag}), (_KEYS, {"endpoint": other})]
            )
            seen += [{r.key for r in first}, {r.key for r in second}]
            tx.read_ahead(_KEYS, {"endpoint": tag}, [])  # as if read before "stored" existed
            seen.append({r.key for r in await tx.fetch(_KEYS, {"endpoint": tag})})
            seen.append({r.key for r in await tx.fetch(_KEYS, {"endpoint": tag})})  # read again
        return seen

    assert server.call(body) == [{"stored"}, set(), set(), {"stored"}]


def test_postgresql_sends_reads_together_in_one_round_trip(server: LiveServer) -> None:
    if server.ctx.db.is_sqlite:
        pytest.skip("SQLite's reads are calls in this process")
    tag = f"together-read-{uuid.uuid4().hex[:8]}"

    async def body(ctx: AppContext) -> tuple[int, list[list[Any]]]:
        async with ctx.db.lean_read() as tx:
            driver = tx.driver
            pipelines: list[int] = []
            pipeline = driver.pipeline

            def counted() -> Any:
                pipelines.append(1)
                return pipeline()

            driver.pipeline = counted
            try:
                rows = await tx.fetch_together(
                    [(_KEYS, {"endpoint": tag}), (_KEYS, {"endpoint": tag + "x"})]
                )
            finally:
                del driver.pipeline
        return len(pipelines), rows

    assert server.call(body) == (1, [[], []])
