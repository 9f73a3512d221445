"""The SQLite database file: created private (0600, its ``-wal`` and ``-shm`` too), and never
silently replaced by a new, empty one once it vanished."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from clarion.db.files import sqlite_path
from tests.cli.serving import clarion_serve, publisher_token
from tests.contract.cli import cli_environment, run_cli
from tests.harness import backend, free_port

pytestmark = pytest.mark.skipif(backend() != "sqlite", reason="a SQLite file")


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_database_and_its_wal_and_shm_are_readable_by_their_owner_only(
    database: str, tmp_path: Path
) -> None:
    path = sqlite_path(database)
    assert path is not None
    with clarion_serve(database, tmp_path / "serve.log") as (_process, base):
        assert httpx.get(f"{base}/readyz").status_code == 200  # the server writes: WAL open
        for suffix in ("", "-wal", "-shm"):
            assert _mode(path + suffix) == 0o600, suffix


def test_serve_refuses_to_start_on_a_new_database_where_one_vanished(
    database: str, tmp_path: Path
) -> None:
    path = sqlite_path(database)
    assert path is not None
    token = publisher_token(database)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.rename(path + suffix, f"{tmp_path}/moved{suffix}")

    port = free_port()
    refused = subprocess.run(
        [sys.executable, "-m", "clarion", "serve", "--port", str(port), "--no-worker"],
        capture_output=True,
        text=True,
        env=cli_environment(database),
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "missing, but a database was there before" in refused.stderr
    assert "--new-database" in refused.stderr and "clarion restore" in refused.stderr
    assert not os.path.exists(path)  # nothing was created in its place
    # Every other command that would open it refuses too.
    listed = run_cli(database, "keys", "list", check=False)
    assert listed.returncode != 0 and not os.path.exists(path)

    # Told to, serve starts on a new, empty database (the old key is unknown there).
    with clarion_serve(database, tmp_path / "new.log", "--new-database") as (_process, base):
        answer = httpx.get(f"{base}/v2/status_pages", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        assert _mode(path) == 0o600
