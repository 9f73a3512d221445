"""``heartbeats``: the last sign of life of each worker (``heartbeat``), and each serving
process's last successful readiness write (``readiness``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base

#: ``Heartbeat.role`` of a worker (in ``clarion serve`` or ``clarion worker``).
WORKER = "worker"
#: ``Heartbeat.role`` of a serving process's readiness check.
READINESS = "readiness"


class Heartbeat(Base):
    __tablename__ = "heartbeats"

    #: The process (``AppContext.instance_id``) and what beats.
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    beat_at: Mapped[datetime]
