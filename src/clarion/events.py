"""Domain events, delivered to listeners inside the writing transaction.

Services call ``emit`` after a write; listeners (the notification outbox, the render cache)
add their own rows or bump versions in the same session, so everything commits together or
not at all. Listeners must not do I/O outside the session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class DomainEvent:
    """``kind`` is e.g. ``incident.created``, ``incident.updated``, ``incident.resolved``,
    ``maintenance.scheduled``, ``maintenance.started``, ``maintenance.completed``."""

    kind: str
    status_page_id: str
    subject_id: str
    occurred_at: datetime
    notify_subscribers: bool = False
    update_id: str | None = None
    component_ids: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[AsyncSession, DomainEvent], Awaitable[None]]
_listeners: list[Listener] = []
#: Listeners with nothing to do for an event that notifies no active subscription.
_subscriber_only: set[Listener] = set()


class SessionNeeded(Exception):
    """Raised by a write on a lean transaction (``clarion.db.lean``) when a listener has work
    to do for its event: the caller runs the write again in an ORM session."""


def subscribe(listener: Listener, *, subscribers_only: bool = False) -> None:
    """``subscribers_only``: the listener does nothing for an event unless it notifies
    subscribers and its page has an active subscription (the outbox's fan-out)."""
    if listener not in _listeners:
        _listeners.append(listener)
    if subscribers_only:
        _subscriber_only.add(listener)


async def emit(session: AsyncSession, event: DomainEvent) -> None:
    for listener in list(_listeners):
        await listener(session, event)


def emit_lean(event: DomainEvent, *, page_has_subscribers: bool) -> None:
    """``emit`` for a write without a session: fine while no listener has anything to do,
    else ``SessionNeeded``."""
    notifies = event.notify_subscribers and page_has_subscribers
    if notifies or any(listener not in _subscriber_only for listener in _listeners):
        raise SessionNeeded(event.kind)
