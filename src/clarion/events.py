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


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


async def emit(session: AsyncSession, event: DomainEvent) -> None:
    for listener in list(_listeners):
        await listener(session, event)
