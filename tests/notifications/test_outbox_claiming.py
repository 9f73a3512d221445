"""Leased claiming: concurrent claimers (each with its own engine and connections) split the
due rows without overlap, an expired lease makes a row claimable again, and outcomes written
under a lease that was taken over change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from clarion.context import AppContext
from clarion.notifications.outbox import Claim, PermanentFailure, claim
from clarion.notifications.outcomes import Outcome, write_outcomes
from tests.factories import make_page
from tests.harness import LiveServer, fresh_database, live_server
from tests.subscribers.helpers import add_subscribers, create_incident, outbox_rows, sdk_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own: claiming takes every due row in the database."""
    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        yield srv


def test_concurrent_claimers_never_take_the_same_row_and_expired_leases_are_reclaimed(
    server: LiveServer,
) -> None:
    page = make_page(server)
    add_subscribers(server, page.id, 120)
    with sdk_for(server) as sdk:
        incident = create_incident(sdk, page.id, "Claim me")
    ids = {r.id for r in outbox_rows(server, subject_id=incident.id)}
    assert len(ids) == 120

    async def claim_all(ctx: AppContext) -> list[list[str]]:
        settings = ctx.settings.model_copy(update={"outbox_lease_seconds": 30})
        claimers = [AppContext.build(settings, ctx.clock) for _ in range(4)]
        taken: list[list[str]] = [[] for _ in claimers]
        # Connect every claimer first, so none has finished before the others begin.
        assert all(await asyncio.gather(*(c.db.ping() for c in claimers)))
        for c in claimers:
            async with c.db.write():
                pass

        async def keep_claiming(index: int) -> None:
            while True:
                got = (await claim(claimers[index], f"claimer-{index}", 7)).ids
                assert len(got) <= 7  # never more than asked for
                if not got:
                    return
                taken[index].extend(got)

        try:
            await asyncio.gather(*(keep_claiming(i) for i in range(len(claimers))))
        finally:
            for c in claimers:
                await c.close()
        return taken

    taken = server.call(claim_all)
    flat = [row_id for share in taken for row_id in share]
    mine = [row_id for row_id in flat if row_id in ids]
    assert len(mine) == len(set(mine)) == 120  # every row once, none twice
    assert sum(1 for share in taken if share) >= 2  # they really ran side by side
    rows = outbox_rows(server, subject_id=incident.id)
    assert {r.status for r in rows} == {"sending"}
    assert all(r.attempts == 1 for r in rows)

    async def claim_again(ctx: AppContext) -> list[str]:
        return (await claim(ctx, "late", 500)).ids

    assert [i for i in server.call(claim_again) if i in ids] == []  # leases still held
    saved = server.clock.offset
    server.clock.offset += timedelta(seconds=31)
    try:
        again = [i for i in server.call(claim_again) if i in ids]
    finally:
        server.clock.offset = saved
    assert set(again) == ids
    assert {r.lease_owner for r in outbox_rows(server, subject_id=incident.id)} == {"late"}


def test_an_outcome_written_under_a_lease_taken_over_changes_nothing(server: LiveServer) -> None:
    """Fencing: once another worker has claimed a row whose lease expired, the first worker's
    outcome writes (sent, failed, released) change nothing and count against no one."""
    page = make_page(server)
    add_subscribers(server, page.id, 3)
    with sdk_for(server) as sdk:
        incident = create_incident(sdk, page.id, "Fenced")
    ids = {r.id for r in outbox_rows(server, subject_id=incident.id)}

    async def claim_mine(ctx: AppContext) -> Claim:
        return await claim(ctx, "first", 500)

    first = server.call(claim_mine)
    assert ids <= set(first.ids)
    saved = server.clock.offset
    server.clock.offset += timedelta(seconds=server.settings.outbox_lease_seconds + 1)
    try:

        async def claim_theirs(ctx: AppContext) -> Claim:
            return await claim(ctx, "second", 500)

        second = server.call(claim_theirs)
    finally:
        server.clock.offset = saved
    assert ids <= set(second.ids) and second.token != first.token
    rows = {r.id: r for r in outbox_rows(server, subject_id=incident.id)}
    sent, failed, released = (rows[i] for i in sorted(ids))

    async def write_late(ctx: AppContext) -> int:
        return await write_outcomes(
            ctx,
            [
                Outcome(sent, first.token),
                Outcome(failed, first.token, PermanentFailure("550 unknown mailbox")),
                Outcome(released, first.token, release_at=ctx.clock.now()),
            ],
        )

    assert server.call(write_late) == 3  # all three fenced out
    after = {r.id: r for r in outbox_rows(server, subject_id=incident.id)}
    for row_id in ids:
        row = after[row_id]
        assert (row.status, row.lease_owner, row.lease_token) == ("sending", "second", second.token)
        assert row.attempts == 2 and row.last_error is None

    async def write_current(ctx: AppContext) -> int:
        return await write_outcomes(ctx, [Outcome(after[sent.id], second.token)])

    assert server.call(write_current) == 0
    assert {r.id: r.status for r in outbox_rows(server, subject_id=incident.id)}[sent.id] == "sent"
