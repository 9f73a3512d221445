"""The migrations build exactly the schema the models describe, on the configured backend."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import inspect

from clarion.cli.main import cli
from clarion.db.engine import make_sync_engine
from clarion.db.migrate import alembic_config, current_revision, head_revision, upgrade
from clarion.db.models import load_all_models
from clarion.settings import Settings
from tests.harness import fresh_database


@pytest.fixture(scope="module")
def migrated_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(str(tmp_path_factory.mktemp("migrations"))) as url:
        database_url = Settings(database_url=url).database_url
        upgrade(database_url)
        yield database_url


def _differences(url: str) -> list[Any]:
    metadata = load_all_models().metadata
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_the_migrated_database_matches_the_models(migrated_url: str) -> None:
    assert _differences(migrated_url) == []


def test_every_model_table_exists_after_upgrade(migrated_url: str) -> None:
    engine = make_sync_engine(migrated_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    expected = set(load_all_models().metadata.tables)
    assert expected <= tables
    assert "alembic_version" in tables


def test_upgrading_again_is_harmless_and_stays_at_head(migrated_url: str) -> None:
    upgrade(migrated_url)
    upgrade(migrated_url)
    engine = make_sync_engine(migrated_url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    heads = ScriptDirectory.from_config(alembic_config(migrated_url)).get_heads()
    assert set(current) == set(heads)
    assert len(heads) == 1, "one history for SQLite and PostgreSQL"
    assert _differences(migrated_url) == []


def test_concurrent_upgrades_of_a_fresh_database_all_succeed(tmp_path: Path) -> None:
    """Replicas starting together each migrate first; they must not trip over each other."""
    with fresh_database(str(tmp_path)) as url:
        database_url = Settings(database_url=url).database_url
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(upgrade, database_url) for _ in range(3)]:
                future.result(timeout=120)
        assert _differences(database_url) == []


def test_clarion_db_upgrade_reports_the_schema_is_current(tmp_path: Path) -> None:
    with fresh_database(str(tmp_path)) as url:
        runner = CliRunner()
        for _ in range(2):
            result = runner.invoke(cli, ["db", "upgrade"], env={"CLARION_DATABASE_URL": url})
            assert result.exit_code == 0, result.output
            assert "database is at the current schema" in result.output
        assert _differences(Settings(database_url=url).database_url) == []


def test_the_head_read_from_file_names_is_alembics_head() -> None:
    """``head_revision`` reads the newest file name instead of loading every migration: it
    holds only while each file is named by its revision and the history is one line."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    assert head_revision() == scripts.get_current_head()
    for script in scripts.walk_revisions():
        assert Path(str(script.path)).name.startswith(f"{script.revision}_")


def test_a_database_one_migration_behind_is_brought_to_head(migrated_url: str) -> None:
    """A current database is recognised without Alembic; one that is not still goes through
    it (here: the newest migration undone, as after restoring an older backup)."""
    engine = make_sync_engine(migrated_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(migrated_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "-1")
            behind = current_revision(connection)
        assert behind is not None and behind < head_revision()
        upgrade(migrated_url)
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()
    finally:
        engine.dispose()
    assert _differences(migrated_url) == []
