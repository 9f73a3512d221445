"""Domain events, recorded inside the writing transaction.

Services build a ``DomainEvent`` after a write and hand it to the ``EventSink`` they were given
(the notification outbox in a running Clarion, ``clarion.notifications.outbox.Outbox``), which
adds its rows in the same session, so everything commits together or not at all. A sink must
not do I/O outside the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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


class EventSink(Protocol):
    async def record(self, session: AsyncSession, event: DomainEvent) -> None:
        """Act on ``event`` inside ``session``'s transaction."""
