"""Console users and their server-side sessions.

A session's token lives only in the browser's cookie; the table keeps its SHA-256 hash, so a
copy of the database does not let anyone sign in. Ending a session deletes its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clarion.db.base import Base


class User(Base):
    """A person who signs in to the console. ``email`` is stored lower-cased (unique);
    ``roles`` are the API keys' roles."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """One signed-in browser. It ends at sign-out, at the user's deactivation or password
    reset, after ``console_session_idle_minutes`` without a request, and
    ``console_session_max_hours`` after sign-in (``expires_at``)."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: The synchronizer token every form of this session carries (never the session token).
    csrf_token: Mapped[str] = mapped_column(String(64))
    #: A message for the next page this session sees (after POST, redirect, GET).
    flash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
