"""Bring the database to the current schema (Alembic; one history for SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from clarion.db import files

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, *, allow_new: bool = False) -> None:
    """Apply every migration not yet applied. Safe to call from several processes.

    A SQLite file is created here, private (``files.prepare``), and never where a database
    was before unless ``allow_new`` (``files.VanishedDatabase``)."""
    from clarion.db.engine import make_sync_engine

    path = files.sqlite_path(url)
    if path is not None:
        files.prepare(path, allow_new=allow_new)
    engine = make_sync_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Serialise concurrent upgrades (replicas starting together).
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243317)")
            if current_revision(connection) != head_revision():
                _upgrade(connection, url)
    finally:
        engine.dispose()
    if path is not None:
        files.mark(path)


def _upgrade(connection: Connection, url: str) -> None:
    from alembic import command

    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def current_revision(connection: Connection) -> str | None:
    """The migration the database records as applied (None for an empty database)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    found: str | None = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return found


def head_revision() -> str:
    """The newest migration of this release (what a current database records).

    Read from the file names (each migration's file starts with its revision, and each
    revises the one before: ``tests/db/test_migrations.py`` holds the history to that), so
    that a command on a current database never loads Alembic and the migrations."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))
