"""What a worker's deliveries are made of: the rows it holds, the lanes that hold them, and the
pauses of destinations that could not be reached (see ``delivery``)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from clarion.context import AppContext
from clarion.notifications.channels import Pause
from clarion.notifications.models import OutboxMessage
from clarion.subscribers.models import EMAIL, WEBHOOK, Subscription

log = logging.getLogger("clarion.outbox")

MAX_PAUSE_SECONDS = 60.0
#: The destination of every e-mail: Clarion's SMTP relay.
EMAIL_RELAY = f"{EMAIL}:relay"


@dataclass(eq=False)
class Held:
    """A row this worker leased: its lease's token and local deadline (``loop.time()``)."""

    row: OutboxMessage
    subscription: Subscription | None
    token: str
    lane: Lane
    destination: str
    deadline: float
    lost: bool = False
    finished: bool = False


@dataclass(eq=False)
class Lane:
    """One channel's share of a worker: the rows it holds (at most ``capacity``) and the slots
    its deliveries take (``slots``, and per destination)."""

    channel: str
    capacity: int
    slots: asyncio.Semaphore
    #: Deliveries in flight to one destination at most (``None``: no limit but ``slots``).
    per_destination: int | None = None
    held: set[Held] = field(default_factory=set)
    destinations: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    #: Rows held per destination.
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, held: Held) -> None:
        self.held.add(held)
        self.counts[held.destination] += 1

    def discard(self, held: Held) -> None:
        if held in self.held:
            self.held.remove(held)
            self.counts[held.destination] -= 1
            if self.counts[held.destination] <= 0:
                del self.counts[held.destination]

    def crowded(self, destination: str) -> bool:
        """Whether ``destination`` already has twice its limit of rows held here: more would
        only wait, taking room the lane's other destinations could use."""
        limit = self.per_destination
        return limit is not None and self.counts[destination] >= 2 * limit

    def destination_slots(self, destination: str) -> asyncio.Semaphore | None:
        if self.per_destination is None:
            return None
        found = self.destinations.get(destination)
        if found is None:
            found = self.destinations[destination] = asyncio.Semaphore(self.per_destination)
        return found


def destination_of(row: OutboxMessage, subscription: Subscription | None) -> str:
    """Where ``row`` goes: the relay for e-mail, the host for a webhook."""
    if row.channel == WEBHOOK and subscription is not None and subscription.url:
        return f"{WEBHOOK}:{urlsplit(subscription.url).hostname or '?'}"
    return f"{row.channel}:relay"


# -- pauses (kept in ``ctx.channels``: they outlive one round of delivery) -------------------


def _running(pause: Pause, now: datetime) -> bool:
    """Whether ``pause`` has not ended (one that ends further ahead than any pause lasts was
    set before the clock went back, and has ended)."""
    return now < pause.until <= now + timedelta(seconds=MAX_PAUSE_SECONDS)


def paused_until(ctx: AppContext, destination: str) -> datetime | None:
    found = ctx.channels.pauses.get(destination)
    if found is not None and _running(found, ctx.clock.now()):
        return found.until
    return None


def probing(ctx: AppContext, destination: str) -> bool:
    """Whether ``destination`` was paused and has not answered since."""
    return destination in ctx.channels.pauses


def resume(ctx: AppContext, destination: str) -> None:
    """``destination`` answered: no pause, no probing."""
    ctx.channels.pauses.pop(destination, None)


def pause(ctx: AppContext, destination: str) -> datetime:
    """Pause ``destination`` (unless it already is): 1 s, then twice as long each time in a
    row, at most ``MAX_PAUSE_SECONDS``; returns when the pause ends."""
    now = ctx.clock.now()
    pauses = ctx.channels.pauses
    found = pauses.get(destination)
    if found is not None and _running(found, now):
        return found.until  # already paused by another delivery's failure
    count = found.count + 1 if found is not None else 1
    seconds = min(2.0 ** (count - 1), MAX_PAUSE_SECONDS)
    pauses[destination] = Pause(now + timedelta(seconds=seconds), count)
    channel, _, name = destination.partition(":")
    log.log(
        logging.WARNING if count == 1 else logging.INFO,
        "%s unreachable; its deliveries wait %.0f s (pause %d in a row)",
        "the SMTP relay" if channel == EMAIL else f"webhook host {name}",
        seconds,
        count,
    )
    return pauses[destination].until
