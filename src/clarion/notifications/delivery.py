"""Delivering the outbox: a lane per channel, fenced leases kept alive by heartbeats.

1. **Lanes.** E-mail and webhooks are separate lanes; each holds at most
   ``outbox_batch_size`` leased rows and sends at most ``outbox_concurrency`` at once (e-mail
   also through the SMTP pool's connections; webhooks at most
   ``outbox_webhook_host_concurrency`` per host, and a host holds at most twice that many rows:
   more go back to ``pending`` at once). A lane claims more as soon as half of it is free,
   without waiting for the rest of what it holds, so a slow peer holds only its own lane (or its
   own host's slots).
2. **Order.** One subscriber's messages go out one after another, oldest first; different
   subscribers in parallel.
3. **Leases.** Every third of ``outbox_lease_seconds`` the worker renews the leases of the
   rows it holds (fenced by their claim's token); a row another worker took over is dropped.
   Right before a message leaves, its channel checks that the lease is still this worker's with
   a third of it to spare, by this process's monotonic clock (e-mail checks again between the
   envelope and ``DATA``), so a worker that was paused past its lease sends nothing more.
   Every outcome write is fenced too (``outcomes``).
4. **Pauses.** A destination that cannot be reached (Clarion's SMTP relay down, a webhook host
   timing out) is paused (``lanes.pause``: 1, 2, 4 … at most 60 s); the rows waiting for it
   go back to ``pending``, due when the pause ends, without counting an attempt. After a relay
   pause the e-mail lane sends one message (a probe) before the others.
5. **Stopping.** On ``stop`` the worker claims nothing more, puts the rows it has not started
   back to ``pending``, waits up to ``STOP_GRACE_SECONDS`` for those in flight and records
   them. A worker killed outright leaves its rows leased: they are claimed again when the lease
   expires, at most ``outbox_lease_seconds`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update

from clarion.context import AppContext
from clarion.notifications.channels import deliverer
from clarion.notifications.lanes import (
    EMAIL_RELAY,
    Held,
    Lane,
    destination_of,
    pause,
    paused_until,
    probing,
    resume,
)
from clarion.notifications.models import DEAD, FAILED, SENDING, OutboxMessage
from clarion.notifications.outbox import (
    CONFIRM_KIND,
    Claim,
    LeaseLost,
    RelayUnavailable,
    TemporaryFailure,
    claim,
)
from clarion.notifications.outcomes import SLICE, Outcome, Skipped, slices, write_outcomes
from clarion.subscribers.models import EMAIL, WEBHOOK, Subscription

log = logging.getLogger("clarion.outbox")

STOP_GRACE_SECONDS = 5.0
#: Outcomes arriving within this long of the first one are written in one transaction.
RECORD_WINDOW_SECONDS = 0.02
RECORD_BATCH = 500
#: Outbox rows (and their subscriptions) loaded per statement after a claim.
LOAD_SLICE = 25


class Dispatcher:
    """One worker's deliveries (see the module contract)."""

    def __init__(self, ctx: AppContext) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.loop = asyncio.get_running_loop()
        self.lease_seconds = settings.outbox_lease_seconds
        capacity = max(1, settings.outbox_batch_size)
        concurrency = max(1, settings.outbox_concurrency)
        self.lanes = {
            EMAIL: Lane(EMAIL, capacity, asyncio.Semaphore(concurrency)),
            WEBHOOK: Lane(
                WEBHOOK,
                capacity,
                asyncio.Semaphore(concurrency),
                settings.outbox_webhook_host_concurrency,
            ),
        }
        self.held: dict[str, Held] = {}
        self.chains: dict[str, list[Held]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.outcomes: asyncio.Queue[tuple[Held, Outcome] | None] = asyncio.Queue()
        self.changed = asyncio.Event()
        self.stopping = False
        self.dropped = 0
        self.dropped_warned_at = -60.0

    # -- claiming ----------------------------------------------------------------------------

    def room(self, lane: Lane) -> int:
        if lane.channel == EMAIL:
            if paused_until(self.ctx, EMAIL_RELAY) is not None:
                return 0
            if probing(self.ctx, EMAIL_RELAY):  # one message until one goes
                return 0 if lane.held else 1
        return max(0, lane.capacity - len(lane.held))

    async def claim_round(self, *, eager: bool) -> int | None:
        """Claim for every lane with room (``eager``: any room; else half its capacity, or
        any when it holds nothing); one statement when the lanes want the same number.
        How many rows were claimed; ``None`` when no lane had room to ask for any."""
        if self.stopping:
            return None
        rooms = {}
        for channel, lane in self.lanes.items():
            room = self.room(lane)
            if room > 0 and (eager or not lane.held or room >= lane.capacity // 2):
                rooms[channel] = room
        if not rooms:
            return None
        groups: dict[int, list[str]] = {}
        for channel, room in rooms.items():
            groups.setdefault(room, []).append(channel)
        total = 0
        for room, channels in groups.items():
            started = self.loop.time()
            got = await claim(self.ctx, self.ctx.instance_id, room, channels)
            if got.ids:
                await self._take(got, started)
                total += len(got.ids)
        return total

    async def _take(self, got: Claim, started: float) -> None:
        rows: list[OutboxMessage] = []
        subscriptions: dict[str, Subscription] = {}
        async with self.ctx.db.read() as session:
            # In slices, letting other work run between them: on SQLite statements run on the
            # event loop's thread, and loading a whole batch with its payloads at once held up
            # the API requests that arrived meanwhile.
            for part in slices(got.ids, LOAD_SLICE):
                rows.extend(
                    await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(part)))
                )
                await asyncio.sleep(0)
            wanted = sorted({r.subscription_id for r in rows})
            for part in slices(wanted, LOAD_SLICE):
                found = await session.scalars(select(Subscription).where(Subscription.id.in_(part)))
                subscriptions.update((s.id, s) for s in found)
                await asyncio.sleep(0)
        deadline = started + self.lease_seconds
        # A row for a destination with enough waiting already goes back, due once a delivery
        # there could have timed out.
        crowded_wait = timedelta(seconds=self.ctx.settings.webhook_timeout_seconds)
        for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
            earlier = self.held.get(row.id)
            if earlier is not None:  # this worker's own expired lease, claimed again
                earlier.lost = True
                earlier.lane.discard(earlier)
            subscription = subscriptions.get(row.subscription_id)
            lane = self.lanes[row.channel]
            destination = destination_of(row, subscription)
            held = Held(row, subscription, got.token, lane, destination, deadline)
            crowded = lane.crowded(destination)
            self.held[row.id] = held
            lane.add(held)
            if crowded:
                self._release(held, self.ctx.clock.now() + crowded_wait)
                continue
            chain = self.chains.get(row.subscription_id)
            if chain is not None:
                chain.append(held)
                chain.sort(key=lambda h: (h.row.created_at, h.row.id))
            else:
                self.chains[row.subscription_id] = [held]
                self._spawn(self._run_chain(row.subscription_id))

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- delivering --------------------------------------------------------------------------

    async def _run_chain(self, subscription_id: str) -> None:
        try:
            while True:
                chain = self.chains.get(subscription_id)
                if not chain:
                    return
                await self._deliver(chain.pop(0))
        finally:
            self.chains.pop(subscription_id, None)

    def _lease_ok(self, held: Held) -> bool:
        return not held.lost and self.loop.time() < held.deadline - self.lease_seconds / 3

    def _check_lease(self, held: Held) -> None:
        if not self._lease_ok(held):
            raise LeaseLost(held.row.id)

    async def _deliver(self, held: Held) -> None:
        if held.lost:
            self._drop(held)
            return
        waiting = held.lane.destination_slots(held.destination)
        async with (
            waiting if waiting is not None else contextlib.nullcontext(),
            held.lane.slots,
        ):
            error = await self._attempt(held)
        if error is False:
            return
        retry_at = None
        if isinstance(error, TemporaryFailure) and error.unreachable:
            until = pause(self.ctx, held.destination)
            if isinstance(error, RelayUnavailable):
                retry_at = until
        elif not isinstance(error, Skipped):  # the destination answered
            resume(self.ctx, held.destination)
        self._finish(held, Outcome(held.row, held.token, error, retry_at=retry_at))

    async def _attempt(self, held: Held) -> Exception | Literal[False] | None:
        """Send ``held`` unless the worker is stopping, its destination is paused (both:
        released) or its lease is lost (dropped): ``False`` then; else the error, if any."""
        until = self.ctx.clock.now() if self.stopping else paused_until(self.ctx, held.destination)
        if until is not None:
            self._release(held, until)
            return False
        try:
            await self._send(held)
        except LeaseLost:
            self._drop(held)
            return False
        except Exception as exc:
            return exc
        return None

    async def _send(self, held: Held) -> None:
        row, subscription = held.row, held.subscription
        if subscription is None or subscription.unsubscribed_at is not None:
            raise Skipped("the subscription no longer exists or was unsubscribed", DEAD)
        if subscription.disabled_at is not None:
            raise Skipped("the subscription is disabled", FAILED)
        if row.kind != CONFIRM_KIND and subscription.confirmed_at is None:
            raise Skipped("the subscription is not confirmed", DEAD)
        deliver = deliverer(row.channel)
        if deliver is None:
            raise TemporaryFailure(f"no channel named {row.channel!r}")
        self._check_lease(held)
        await deliver(self.ctx, row, subscription, lambda: self._check_lease(held))

    def _release(self, held: Held, due: datetime) -> None:
        self._finish(held, Outcome(held.row, held.token, release_at=due))

    def _finish(self, held: Held, outcome: Outcome) -> None:
        held.finished = True
        self.outcomes.put_nowait((held, outcome))

    def _drop(self, held: Held) -> None:
        """Forget a row whose lease this worker lost (its new holder delivers it); warn once a
        minute at most, with how many."""
        self.dropped += 1
        now = self.loop.time()
        if now - self.dropped_warned_at >= 60:
            log.warning(
                "%d outbox rows not sent: this worker's lease on them ran out (it was paused, "
                "or could not reach the database); whoever claims them next sends them",
                self.dropped,
            )
            self.dropped, self.dropped_warned_at = 0, now
        self._forget(held)

    def _forget(self, held: Held) -> None:
        held.finished = True
        held.lane.discard(held)
        if self.held.get(held.row.id) is held:
            del self.held[held.row.id]
        self.changed.set()

    # -- recording ---------------------------------------------------------------------------

    async def record_loop(self) -> None:
        """Write outcomes as they arrive: whatever arrives within ``RECORD_WINDOW_SECONDS`` of
        the first one goes into one transaction, so a sent message is marked within moments (a
        crash then re-sends as little as possible) without a write per message. The rows stay
        held (their leases renewed) until written."""
        finished = False
        while not finished:
            batch: list[tuple[Held, Outcome]] = []
            item = await self.outcomes.get()
            deadline = self.loop.time() + RECORD_WINDOW_SECONDS
            while True:
                if item is None:
                    finished = True
                    break
                batch.append(item)
                remaining = deadline - self.loop.time()
                if len(batch) >= RECORD_BATCH or remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.outcomes.get(), remaining)
                except TimeoutError:
                    break
            if batch:
                await self._write([o for _, o in batch])
                for held, _ in batch:
                    self._forget(held)

    async def _write(self, outcomes: list[Outcome]) -> None:
        for delay in (0.5, 1.0, 2.0, None):
            try:
                fenced_out = await write_outcomes(self.ctx, outcomes)
            except Exception:
                if delay is None:
                    # The rows stay leased; when the lease expires they are delivered again.
                    log.exception("could not record %d delivery outcomes", len(outcomes))
                    return
                await asyncio.sleep(delay)
                continue
            if fenced_out:
                log.warning(
                    "%d delivery outcomes not recorded: another worker took over their lease",
                    fenced_out,
                )
            return

    # -- heartbeats --------------------------------------------------------------------------

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if self.held:
                try:
                    await self.renew()
                except Exception:
                    log.warning("could not renew outbox leases", exc_info=True)

    async def renew(self) -> None:
        """Extend the lease of every row held (fenced by token); drop those taken over."""
        started = self.loop.time()
        expires_at = self.ctx.clock.now() + timedelta(seconds=self.lease_seconds)
        by_token: dict[str, list[str]] = {}
        for row_id, holding in self.held.items():
            if not holding.lost:
                by_token.setdefault(holding.token, []).append(row_id)
        kept: set[str] = set()
        async with self.ctx.db.write() as session:
            for token, ids in by_token.items():
                for part in slices(ids, SLICE):
                    kept.update(
                        await session.scalars(
                            update(OutboxMessage)
                            .where(
                                OutboxMessage.id.in_(part),
                                OutboxMessage.lease_token == token,
                                OutboxMessage.status == SENDING,
                            )
                            .values(lease_expires_at=expires_at)
                            .returning(OutboxMessage.id)
                            .execution_options(synchronize_session=False)
                        )
                    )
        lost = 0
        for token, ids in by_token.items():
            for row_id in ids:
                held = self.held.get(row_id)
                if held is None or held.token != token:
                    continue
                if row_id in kept:
                    held.deadline = started + self.lease_seconds
                elif not held.finished:
                    held.lost = True
                    lost += 1
        if lost:
            log.warning("%d outbox leases were taken over by another worker", lost)

    # -- running -----------------------------------------------------------------------------

    async def settle(self) -> None:
        """Until every row claimed so far is delivered (or released) and recorded."""
        while self.tasks:
            await asyncio.wait(set(self.tasks))
        while self.held:
            self.changed.clear()
            if not self.held:
                break
            await self.changed.wait()

    async def stop(self) -> None:
        """Claim nothing more, release what has not started, let what is in flight finish."""
        self.stopping = True
        now = self.ctx.clock.now()
        for chain in self.chains.values():
            waiting, chain[:] = list(chain), []
            for held in waiting:
                self._release(held, now)
        if self.tasks:
            _, late = await asyncio.wait(set(self.tasks), timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


async def deliver_once(ctx: AppContext) -> int:
    """Claim one batch per lane, deliver it and record every outcome; how many were claimed."""
    dispatcher = Dispatcher(ctx)
    recorder = asyncio.create_task(dispatcher.record_loop())
    beats = asyncio.create_task(dispatcher.heartbeats())
    try:
        claimed = await dispatcher.claim_round(eager=True)
        if claimed:
            await dispatcher.settle()
        return claimed or 0
    finally:
        beats.cancel()
        dispatcher.outcomes.put_nowait(None)
        await recorder
        with contextlib.suppress(asyncio.CancelledError):
            await beats


async def run(ctx: AppContext, stop: asyncio.Event) -> None:
    """Deliver until ``stop`` is set (the worker's ``deliver_outbox`` job)."""
    dispatcher = Dispatcher(ctx)
    recorder = asyncio.create_task(dispatcher.record_loop())
    beats = asyncio.create_task(dispatcher.heartbeats())
    poll = ctx.settings.worker_poll_seconds
    try:
        while not stop.is_set():
            dispatcher.changed.clear()
            claimed: int | None = 0
            try:
                claimed = await dispatcher.claim_round(eager=False)
            except Exception:
                log.exception("claiming outbox rows failed")
            if claimed:
                await asyncio.sleep(0)
                continue
            # The lanes were full: wait for room (or the next poll, when a pause may end).
            # Nothing was due, or the claim failed: wait for the next poll.
            waits = [asyncio.ensure_future(stop.wait())]
            if claimed is None:
                waits.append(asyncio.ensure_future(dispatcher.changed.wait()))
            _, pending = await asyncio.wait(
                waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
    finally:
        await dispatcher.stop()
        dispatcher.outcomes.put_nowait(None)
        await recorder
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
