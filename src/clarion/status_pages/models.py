"""Status pages and their structure (components, groups and sub-pages in display order)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, column_property, mapped_column

from clarion.db.base import Base


class PageVersion(Base):
    """One committed change of what a status page shows (see ``StatusPage.content_version``).

    Rows are only ever added by writes (``status_pages.versions.touch_page``), so concurrent
    writes to one page never wait for each other here; the worker folds old rows into
    ``StatusPage.versions_folded`` (``status_pages.versions.fold_versions``)."""

    __tablename__ = "status_page_versions"
    __table_args__ = (Index("ix_status_page_versions_page", "status_page_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    status_page_id: Mapped[str] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


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
    #: How many ``PageVersion`` rows the worker has folded away.
    versions_folded: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    #: The render caches' key: it moves with every committed write that changes what the page
    #: shows, and never comes back to an earlier value. It counts the page's ``PageVersion``
    #: rows (the folded ones included), so it does not depend on the order in which concurrent
    #: writes commit.
    content_version: Mapped[int] = column_property(
        versions_folded
        + select(func.count())
        .where(PageVersion.status_page_id == id)
        .correlate_except(PageVersion)
        .scalar_subquery()
    )
    #: When the newest ``PageVersion`` row was added (None before any).
    versioned_at: Mapped[datetime | None] = column_property(
        select(func.max(PageVersion.created_at))
        .where(PageVersion.status_page_id == id)
        .correlate_except(PageVersion)
        .scalar_subquery()
    )

    @property
    def changed_at(self) -> datetime:
        """When what the page shows (its settings or its content) last changed."""
        return max(t for t in (self.versioned_at, self.updated_at) if t is not None)


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
