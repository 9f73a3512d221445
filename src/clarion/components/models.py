"""Organisation-level components and the append-only ledger of their statuses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base


class Component(Base):
    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    # Set for components declared by ``clarion apply``; stable across renames.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # dashboard | external | terraform
    managed_by: Mapped[str] = mapped_column(String(16), default="dashboard")
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ComponentStatusChange(Base):
    """One change of a component's status on one page, caused by one incident or maintenance.

    Append-only. A component's status on a page at time ``t`` is the worst, over its causes,
    of each cause's latest change at or before ``t``. Impacts, availability, uptime bars and
    the public JSON are all derived from these rows.
    """

    __tablename__ = "component_status_changes"
    __table_args__ = (
        Index(
            "ix_component_status_changes_page_component_at",
            "status_page_id",
            "component_id",
            "occurred_at",
        ),
        Index("ix_component_status_changes_incident", "incident_id", "occurred_at"),
        Index("ix_component_status_changes_maintenance", "maintenance_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    status_page_id: Mapped[str] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"))
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    maintenance_id: Mapped[str | None] = mapped_column(
        ForeignKey("maintenances.id", ondelete="CASCADE")
    )
    # operational | degraded_performance | partial_outage | full_outage | under_maintenance
    status: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    # Order of changes within the same instant.
    seq: Mapped[int] = mapped_column(default=0)


class ComponentDowntime(Base):
    """A cache of one component's merged down intervals on one page (``components/downtime.py``).

    Derived from the ledger and rebuilt from it whenever it is stale: it is valid while the
    page's ``content_version`` and the component's ledger row count still equal the values
    recorded here. ``intervals`` packs three int64 arrays (starts, ends, running totals) in
    microseconds since the epoch; an ongoing interval ends at the largest int64.
    """

    __tablename__ = "component_downtime"

    status_page_id: Mapped[str] = mapped_column(
        ForeignKey("status_pages.id", ondelete="CASCADE"), primary_key=True
    )
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    content_version: Mapped[int]
    ledger_rows: Mapped[int]
    intervals: Mapped[bytes] = mapped_column(LargeBinary)
    computed_at: Mapped[datetime]
