"""Server-side timeouts: a PostgreSQL statement that runs too long, or waits too long for a lock
another session holds, fails with ``database_busy`` instead of hanging its request."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from clarion.db.engine import Database
from clarion.db.faults import unavailable
from clarion.db.migrate import upgrade
from clarion.settings import Settings
from tests.harness import backend, fresh_database

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL's timeouts")


def test_long_statements_and_lock_waits_fail_as_busy_within_their_timeouts(
    tmp_path: Path,
) -> None:
    with fresh_database(str(tmp_path)) as url:
        upgrade(url)
        settings = Settings(database_url=url)

        async def run() -> list[tuple[str, float]]:
            db = Database(
                settings.database_url, statement_timeout_seconds=0.5, lock_timeout_seconds=0.5
            )
            seen = []
            try:
                for statement in ("SELECT pg_sleep(5)", "SELECT count(*) FROM incidents"):
                    started = time.monotonic()
                    with pytest.raises(Exception) as caught:
                        async with db.read() as session:
                            await session.execute(text(statement))
                    found = unavailable(caught.value)
                    assert found is not None, caught.value
                    seen.append((found.details[0].code, time.monotonic() - started))
            finally:
                await db.dispose()
            return seen

        with psycopg.connect(url) as holder:
            holder.execute("LOCK TABLE incidents")  # held until the block ends
            seen = asyncio.run(run())
    assert [code for code, _took in seen] == ["database_busy", "database_busy"]
    assert all(took < 3 for _code, took in seen), seen
