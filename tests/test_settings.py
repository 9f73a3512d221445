"""Settings: the database URL forms Clarion accepts, and one clear line for any other."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from clarion.settings import Settings
from tests.contract.cli import run_cli

ACCEPTED = {
    "sqlite:///var/lib/clarion.db": "sqlite+aiosqlite:///var/lib/clarion.db",
    "sqlite+aiosqlite:///var/lib/clarion.db": "sqlite+aiosqlite:///var/lib/clarion.db",
    "postgresql://clarion@db/clarion": "postgresql+psycopg://clarion@db/clarion",
    "postgres://clarion@db/clarion": "postgresql+psycopg://clarion@db/clarion",
    "postgresql+psycopg://clarion@db/clarion": "postgresql+psycopg://clarion@db/clarion",
}
REFUSED = {
    "mysql://clarion@db/clarion": "mysql",
    "mysql+pymysql://clarion@db/clarion": "mysql",
    "mariadb://clarion@db/clarion": "mariadb",
    "postgresql+asyncpg://clarion@db/clarion": "postgresql",
    "oracle://scott@db": "oracle",
    "clarion.db": "clarion.db",
}
HINT = "use sqlite:///path or postgresql://…"


@pytest.mark.parametrize("given, used", ACCEPTED.items())
def test_supported_database_urls_get_their_async_driver(given: str, used: str) -> None:
    assert Settings(database_url=given).database_url == used


@pytest.mark.parametrize("given, named", REFUSED.items())
def test_other_databases_are_refused_by_name(given: str, named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(database_url=given)
    assert f"unsupported database {named!r}; {HINT}" in str(raised.value)


@pytest.mark.parametrize(
    "command",
    [["export", "site"], ["db", "upgrade"], ["keys", "list"], ["apply", "{pages}"], ["serve"]],
)
def test_every_command_says_so_in_one_line(command: list[str], tmp_path: Path) -> None:
    pages = tmp_path / "pages.yaml"
    pages.write_text("components: []\n")
    args = [arg.format(pages=pages) for arg in command]
    result = run_cli("mysql://clarion@db/clarion", *args, check=False, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: CLARION_DATABASE_URL: unsupported database 'mysql'; {HINT}\n"
