"""Status pages and their structure (components, groups and sub-pages in display order)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base


class StatusPage(Base):
    __tablename__ = "status_pages"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # chart_and_percentage | chart_only | nothing
    display_uptime_mode: Mapped[str] = mapped_column(String(32), default="chart_and_percentage")
    # dashboard | external | terraform
    managed_by: Mapped[str] = mapped_column(String(16), default="dashboard")
    custom_domain: Mapped[str | None] = mapped_column(String(255), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="Etc/UTC")
    # Bumped by every write that changes what the public page shows (render cache key).
    content_version: Mapped[int] = mapped_column(default=1)
    # Bumped by the database (triggers, migration 0004) whenever a row of the page's status
    # ledger is added, changed or removed: what the public uptime bars read keeps while it holds.
    ledger_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PendingPageBump(Base):
    """A page whose ``content_version`` the writing transaction moves when it commits.

    Rows never outlive their transaction: a trigger (deferred to commit on PostgreSQL, migration
    0005) bumps the page's version and deletes the row. The page's row is then locked only
    inside the server's commit, never while the transaction waits for its client, so writes to
    one page do not queue behind each other's round trips."""

    __tablename__ = "pending_page_bumps"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    status_page_id: Mapped[str] = mapped_column(String(26))
    bumped_at: Mapped[datetime]


class StructureItem(Base):
    """One entry in a page's structure.

    ``kind`` is ``component``, ``group`` or ``sub_page``. Top-level items have no parent; a
    group's members and a sub-page's items point at it through ``parent_id``. A group's or
    sub-page's id is this row's id.
    """

    __tablename__ = "status_page_items"
    __table_args__ = (
        Index("ix_status_page_items_page_position", "status_page_id", "parent_id", "position"),
        UniqueConstraint("status_page_id", "key", name="uq_status_page_items_page_key"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    status_page_id: Mapped[str] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("status_page_items.id", ondelete="CASCADE")
    )
    # A stable name used by ``clarion apply`` to keep ids across renames.
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int]
    component_id: Mapped[str | None] = mapped_column(ForeignKey("components.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(default=False)
    display_uptime: Mapped[bool] = mapped_column(default=True)
    display_aggregated_uptime: Mapped[bool] = mapped_column(default=False)
