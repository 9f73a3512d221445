"""Status page incidents and their updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base

#: The partial index of unresolved incidents holds the rows matching this (see ``UNRESOLVED``).
_UNRESOLVED_SQL = "incident_status <> 'resolved'"


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_page_published", "status_page_id", "published_at", "id"),
        # The page's open incidents, without scanning its history.
        Index(
            "ix_incidents_page_unresolved",
            "status_page_id",
            "published_at",
            "id",
            sqlite_where=text(_UNRESOLVED_SQL),
            postgresql_where=text(_UNRESOLVED_SQL),
        ),
        # Incidents resolved since a moment (or not resolved): those still open then.
        Index("ix_incidents_page_resolved", "status_page_id", "resolved_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    status_page_id: Mapped[str] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # investigating | identified | monitoring | resolved
    incident_status: Mapped[str] = mapped_column(String(32))
    published_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    retrospective: Mapped[bool] = mapped_column(default=False)
    update_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


#: Unresolved, as the partial index ``ix_incidents_page_unresolved`` states it: the constant is
#: inline (not a bound parameter), so that the planners of SQLite and PostgreSQL can match it.
UNRESOLVED = Incident.incident_status != literal_column("'resolved'")


class IncidentUpdate(Base):
    __tablename__ = "incident_updates"
    __table_args__ = (
        Index("ix_incident_updates_incident_published", "incident_id", "published_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text)
    incident_status: Mapped[str] = mapped_column(String(32))
    # [{"component_id": ..., "component_status": ...}] exactly as published
    component_statuses: Mapped[list[Any]]
    notify_subscribers: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime]
