"""Stored responses of create requests that carried an ``idempotency_key``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base

#: One record per key and endpoint; a concurrent duplicate fails on it (``run_idempotent``).
UNIQUE_KEY = UniqueConstraint("endpoint", "key", name="uq_idempotency_records_endpoint_key")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UNIQUE_KEY,)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int]
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
