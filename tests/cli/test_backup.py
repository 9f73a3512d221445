"""``clarion backup`` and ``clarion restore``: a backup taken while writers keep writing through
the API holds every write acknowledged before it started; a restore refuses to overwrite a
database that holds anything unless forced, and leaves the database at the current schema."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from clarion.db.engine import make_sync_engine
from clarion.db.migrate import head_revision
from clarion.settings import Settings
from tests.cli.serving import clarion_serve, publisher_token
from tests.contract.cli import run_cli
from tests.harness import backend, fresh_database

WRITERS = 4


def _previous_revision() -> str:
    """The schema of the release before this one (before ``heartbeats``)."""
    from alembic.script import ScriptDirectory

    from clarion.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("")).get_revision(head_revision())
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


def _incident_ids_and_schema(url: str) -> tuple[set[str], str]:
    engine = make_sync_engine(Settings(database_url=url).database_url)
    try:
        with engine.connect() as connection:
            ids = set(connection.execute(text("SELECT id FROM incidents")).scalars())
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return ids, str(version)
    finally:
        engine.dispose()


def test_a_backup_under_write_load_holds_every_write_acknowledged_before_it_started(
    database: str, tmp_path: Path
) -> None:
    token = publisher_token(database)
    auth = {"Authorization": f"Bearer {token}"}
    acknowledged: list[tuple[float, str]] = []
    failures: list[str] = []
    stop = threading.Event()
    backup = tmp_path / "clarion.backup"

    with clarion_serve(database, tmp_path / "serve.log") as (_process, base):
        page_id = httpx.get(f"{base}/v2/status_pages", headers=auth).json()["status_pages"][0]["id"]

        def write(writer: int) -> None:
            with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
                number = 0
                while not stop.is_set():
                    number += 1
                    answer = client.post(
                        "/v2/status_page_incidents",
                        json={
                            "status_page_id": page_id,
                            "name": f"Writer {writer} incident {number}",
                            "incident_status": "investigating",
                            "message": "Investigating.",
                            "notify_subscribers": False,
                            "idempotency_key": f"w{writer}-{number}",
                        },
                    )
                    if answer.status_code != 201:
                        failures.append(answer.text)
                        return
                    acknowledged.append(
                        (time.monotonic(), answer.json()["status_page_incident"]["id"])
                    )

        threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(2)
            started = time.monotonic()
            during = len(acknowledged)
            done = run_cli(database, "backup", str(backup))
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
    assert not failures, failures[:3]
    assert len(acknowledged) > during  # the writers kept writing while the backup ran
    before = {incident for at, incident in acknowledged if at < started}
    assert len(before) >= 20
    assert "backed up the database" in done.stdout
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600

    with fresh_database(str(tmp_path)) as empty:
        restored = run_cli(empty, "restore", str(backup))
        assert "restored the database" in restored.stdout
        ids, version = _incident_ids_and_schema(empty)
        assert before <= ids, len(before - ids)
        assert version == head_revision()

    # The source database holds data: a restore over it is refused unless forced.
    refused = run_cli(database, "restore", str(backup), check=False)
    assert refused.returncode != 0 and "not empty" in refused.stderr
    run_cli(database, "restore", "--force", str(backup))
    assert before <= _incident_ids_and_schema(database)[0]
    # An existing backup file is not overwritten unless forced.
    again = run_cli(database, "backup", str(backup), check=False)
    assert again.returncode != 0 and "exists" in again.stderr
    run_cli(database, "backup", "--force", str(backup))


def test_a_backup_of_an_older_schema_is_migrated_when_restored(
    database: str, tmp_path: Path
) -> None:
    backup = tmp_path / "old.backup"
    run_cli(database, "backup", str(backup))
    if backend() == "sqlite":  # make it a backup of the release before this one
        with sqlite3.connect(backup) as old:
            old.execute("DROP TABLE heartbeats")
            old.execute("UPDATE alembic_version SET version_num = ?", (_previous_revision(),))
    with fresh_database(str(tmp_path)) as empty:
        run_cli(empty, "restore", str(backup))
        _ids, version = _incident_ids_and_schema(empty)
        assert version == head_revision()


def test_backup_and_restore_say_clearly_what_they_cannot_do(database: str, tmp_path: Path) -> None:
    missing = run_cli(database, "restore", str(tmp_path / "nothing"), check=False)
    assert missing.returncode != 0 and "no backup at" in missing.stderr
    wrong = tmp_path / "wrong.backup"
    wrong.write_bytes(b"not a backup")
    refused = run_cli(database, "restore", "--force", str(wrong), check=False)
    assert refused.returncode != 0 and "is not a backup of a" in refused.stderr
    nowhere = run_cli(database, "backup", str(tmp_path / "no" / "folder"), check=False)
    assert nowhere.returncode != 0 and "no folder" in nowhere.stderr
