"""The audit log's table: one row per write, added in the write's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base


class AuditEntry(Base):
    """Who (``actor_*``), what (``action``, e.g. ``incident.create``), which object
    (``object_type``, ``object_id``, ``status_page_id`` when there is one) and when
    (``occurred_at``), with a short ``summary`` and a ``detail`` that never holds a secret.

    No foreign keys: an entry outlives what it names (a deleted maintenance window)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_occurred", "occurred_at", "id"),
        Index("ix_audit_entries_actor_name", "actor_name", "occurred_at"),
        Index("ix_audit_entries_actor_id", "actor_id", "occurred_at"),
        Index("ix_audit_entries_object_id", "object_id", "occurred_at"),
        Index("ix_audit_entries_object_type", "object_type", "occurred_at"),
        Index("ix_audit_entries_page", "status_page_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    occurred_at: Mapped[datetime]
    # api_key | user | cli | system
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    status_page_id: Mapped[str | None] = mapped_column(String(26))
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
