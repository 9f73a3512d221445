"""Bring the database to the current schema (Alembic; one history for SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from clarion.db import files

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
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
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    if path is not None:
        files.mark(path)


def head_revision() -> str | None:
    """The newest migration of this release (what a current database records)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()
