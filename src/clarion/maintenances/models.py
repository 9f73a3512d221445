"""Scheduled maintenance windows and their updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base

#: The partial index of unfinished windows holds the rows matching this (see ``UNFINISHED``).
_UNFINISHED_SQL = "maintenance_status <> 'maintenance_complete'"


class Maintenance(Base):
    __tablename__ = "maintenances"
    __table_args__ = (
        Index("ix_maintenances_page_published", "status_page_id", "published_at", "id"),
        Index("ix_maintenances_automation_due", "automate", "maintenance_status", "start_at"),
        # The page's windows in progress and upcoming, without scanning its history.
        Index(
            "ix_maintenances_page_unfinished",
            "status_page_id",
            "start_at",
            "id",
            sqlite_where=text(_UNFINISHED_SQL),
            postgresql_where=text(_UNFINISHED_SQL),
        ),
        # The latest windows of one status (the completed ones, for feeds and JSON).
        Index(
            "ix_maintenances_page_status_start",
            "status_page_id",
            "maintenance_status",
            "start_at",
            "id",
        ),
        # Windows completed since a moment (or not completed): those still open then.
        Index("ix_maintenances_page_completed", "status_page_id", "completed_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    status_page_id: Mapped[str] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # maintenance_scheduled | maintenance_in_progress | maintenance_complete
    maintenance_status: Mapped[str] = mapped_column(String(32))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    automate: Mapped[bool] = mapped_column(default=False)
    notify_subscribers: Mapped[bool] = mapped_column(default=False)
    # When the window really started / ended (set by the status moves).
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    published_at: Mapped[datetime]
    update_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


#: Not complete, as the partial index ``ix_maintenances_page_unfinished`` states it (the
#: constant inline, so that the planners can match it).
UNFINISHED = Maintenance.maintenance_status != literal_column("'maintenance_complete'")


class MaintenanceComponent(Base):
    __tablename__ = "maintenance_components"

    maintenance_id: Mapped[str] = mapped_column(
        ForeignKey("maintenances.id", ondelete="CASCADE"), primary_key=True
    )
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)


class MaintenanceUpdate(Base):
    __tablename__ = "maintenance_updates"
    __table_args__ = (
        Index(
            "ix_maintenance_updates_maintenance_published", "maintenance_id", "published_at", "id"
        ),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    maintenance_id: Mapped[str] = mapped_column(ForeignKey("maintenances.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text)
    maintenance_status: Mapped[str] = mapped_column(String(32))
    component_statuses: Mapped[list[Any]]
    notify_subscribers: Mapped[bool] = mapped_column(default=False)
    automated: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime]
