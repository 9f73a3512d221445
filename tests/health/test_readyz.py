"""``GET /readyz``: 200 only while the database takes a write within the deadline, the schema is
current, the SQLite file is the one opened at start and the worker reports; otherwise a 503
envelope naming what failed. Each fault is made for real (moved and replaced files, read-only
databases, a full disk, held and frozen locks, a frozen worker process)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from clarion.app import create_app
from clarion.db.files import sqlite_path
from clarion.db.migrate import head_revision, upgrade
from clarion.settings import Settings
from tests.contract.checks import check_response
from tests.contract.cli import cli_environment, stop_process
from tests.factories import make_key, make_page
from tests.harness import (
    PG_ADMIN_URL,
    LiveServer,
    backend,
    free_port,
    fresh_database,
    live_server,
    serve_in_thread,
)
from tests.notifications.workers import pause_outside_a_transaction

DEADLINE = 4.0  # generous: a loaded machine must not fail a check that is about correctness
SLACK = 1.5
sqlite_only = pytest.mark.skipif(backend() != "sqlite", reason="a SQLite file")


def _ready(server: LiveServer, query: str = "") -> httpx.Response:
    response = httpx.get(f"{server.base_url}/readyz{query}", timeout=30)
    check_response(response)
    return response


def _codes(response: httpx.Response) -> list[str]:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["type"] == "service_unavailable" and body["status"] == 503
    return [error["code"] for error in body["errors"]]


@contextmanager
def _server(folder: Path, **overrides: object) -> Iterator[tuple[LiveServer, str]]:
    with (
        fresh_database(str(folder)) as url,
        live_server(url, ready_deadline_seconds=DEADLINE, **overrides) as server,
    ):
        yield server, url


def test_readyz_is_200_and_names_its_checks_when_all_is_well(tmp_path: Path) -> None:
    with _server(tmp_path) as (server, _url):
        response = _ready(server)
        assert response.status_code == 200, response.text
        checks = response.json()["checks"]
        assert checks["database_writable"] == checks["schema"] == "ok"
        assert checks["database_file"] == ("ok" if backend() == "sqlite" else "not_applicable")
        assert checks["worker"] == "not_applicable"  # no worker runs in this server
        assert httpx.head(f"{server.base_url}/readyz").status_code == 200


@sqlite_only
def test_readyz_fails_when_the_sqlite_file_is_deleted_or_replaced_and_writes_are_refused(
    tmp_path: Path,
) -> None:
    with _server(tmp_path) as (server, url):
        path = sqlite_path(url)
        assert path is not None
        page = make_page(server, components=1)
        auth = {"Authorization": f"Bearer {make_key(server)}"}
        os.rename(path, path + ".away")
        assert _codes(_ready(server)) == ["database_file_changed"]
        assert "deleted or moved" in _ready(server).text
        # Nothing is acknowledged into the file that is gone (before, this was a 201).
        write = httpx.post(
            f"{server.base_url}/v2/status_page_incidents",
            headers=auth,
            json={
                "status_page_id": page.id,
                "name": "Lost",
                "incident_status": "investigating",
                "message": "Looking into it.",
                "notify_subscribers": False,
                "idempotency_key": "lost-1",
            },
            timeout=30,
        )
        assert _codes(write) == ["database_file_changed"]
        os.rename(path + ".away", path)
        assert _ready(server).status_code == 200

        shutil.copy(path, path + ".copy")
        os.replace(path + ".copy", path)  # same content, another file
        assert _codes(_ready(server)) == ["database_file_changed"]
        assert "replaced" in _ready(server).text


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextmanager
def _mounted(folder: Path, size: str) -> Iterator[Path]:
    """A small tmpfs of its own at ``folder`` (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a file system needs root")
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_readyz_fails_when_the_database_is_read_only(tmp_path: Path) -> None:
    if backend() == "postgresql":
        with _server(tmp_path) as (server, url):
            name = url.rsplit("/", 1)[1]
            assert _ready(server).status_code == 200
            _admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            try:
                _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE datname = '{name}'")  # fmt: skip
                time.sleep(1.2)  # pooled connections are checked after a second idle
                assert _codes(_ready(server)) == ["database_read_only"]
            finally:
                _admin(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
                _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE datname = '{name}'")  # fmt: skip
            time.sleep(1.2)
            assert _ready(server).status_code == 200
        return
    # SQLite: the database on a file system mounted read-only (as one is after I/O errors).
    # Linux refuses to remount a file system read-only while files on it are open for
    # writing, so the server starts on it once it is read-only.
    with _mounted(tmp_path / "disk", "16m") as disk, fresh_database(str(disk)) as url:
        upgrade(url)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        port = free_port()
        settings = Settings(
            database_url=url, base_url=f"http://127.0.0.1:{port}", ready_deadline_seconds=DEADLINE
        )
        with serve_in_thread(lambda: create_app(settings, run_worker=False), settings, port):
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
            check_response(response)
            codes = _codes(response)
            assert codes in (["database_read_only"], ["database_unavailable"]), codes
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200


@sqlite_only
def test_readyz_fails_when_the_disk_is_full(tmp_path: Path) -> None:
    """(PostgreSQL's data directory cannot be given a full disk here: it is the machine's.)"""
    with _mounted(tmp_path / "disk", "8m") as disk, _server(disk) as (server, url):
        assert _ready(server).status_code == 200
        path = sqlite_path(url)
        assert path is not None
        with sqlite3.connect(path) as conn:  # an empty write-ahead log: the next write grows it
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(filler, b"\0" * 65536):
                pass
        except OSError:
            pass  # the disk is full
        finally:
            os.close(filler)
        try:
            codes = _codes(_ready(server))
            assert codes in (["database_full"], ["database_unavailable"]), codes
        finally:
            (disk / "filler").unlink()
        assert _ready(server).status_code == 200


def test_readyz_fails_within_its_deadline_while_a_table_is_locked(tmp_path: Path) -> None:
    """PostgreSQL: another session holds ``LOCK TABLE incidents``; SQLite: another connection
    holds the write lock (``BEGIN IMMEDIATE``)."""
    with _server(tmp_path) as (server, url):
        assert _ready(server).status_code == 200
        if backend() == "postgresql":
            holder: object = psycopg.connect(url)
            holder.execute("LOCK TABLE incidents")  # type: ignore[attr-defined]
        else:
            path = sqlite_path(url)
            assert path is not None
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
        try:
            started = time.monotonic()
            assert _codes(_ready(server)) == ["database_busy"]
            assert time.monotonic() - started < DEADLINE + SLACK
        finally:
            holder.rollback()  # type: ignore[attr-defined]
            holder.close()  # type: ignore[attr-defined]
        assert _ready(server).status_code == 200


def test_readyz_fails_when_the_schema_is_not_the_current_one(tmp_path: Path) -> None:
    with _server(tmp_path) as (server, _url):

        async def set_version(version: str) -> None:
            from sqlalchemy import text

            async with server.ctx.db.write() as session:
                await session.execute(text(f"UPDATE alembic_version SET version_num = '{version}'"))

        current = _ready(server)
        assert current.status_code == 200
        server.call(lambda _ctx: set_version("0001"))
        try:
            response = _ready(server)
            assert _codes(response) == ["schema_not_current"]
            assert "clarion db upgrade" in response.text
        finally:
            server.call(lambda _ctx: set_version(str(head_revision())))
        assert _ready(server).status_code == 200


def test_readyz_with_workers_fails_while_the_worker_process_is_frozen(tmp_path: Path) -> None:
    max_age = 2.0
    with _server(tmp_path, worker_heartbeat_max_age_seconds=max_age) as (server, url):
        assert _codes(_ready(server, "?workers=1")) == ["no_worker_heartbeat"]  # none runs yet
        env = cli_environment(url, CLARION_WORKER_HEARTBEAT_MAX_AGE_SECONDS=str(max_age))
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "clarion", "worker"], env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 30
            while _ready(server, "?workers=1").status_code != 200:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.2)
            # Frozen between its writes: one frozen holding the write lock is also
            # database_busy, as with any held lock (the test above).
            pause_outside_a_transaction(worker, server)
            time.sleep(max_age + 0.5)
            assert _codes(_ready(server, "?workers=1")) == ["no_worker_heartbeat"]
            assert _ready(server).status_code == 200  # serving does not depend on it
            os.kill(worker.pid, signal.SIGCONT)
            deadline = time.monotonic() + 10
            while _ready(server, "?workers=1").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        finally:
            os.kill(worker.pid, signal.SIGCONT)
            stop_process(worker, 20)
            log.close()


def test_readyz_checks_the_heartbeat_of_the_worker_running_in_the_server(tmp_path: Path) -> None:
    with _server(tmp_path, run_worker=True, worker_heartbeat_max_age_seconds=60.0) as (
        server,
        _url,
    ):
        deadline = time.monotonic() + 20
        while (response := _ready(server)).status_code != 200:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.2)
        assert response.json()["checks"]["worker"] == "ok"
        server.clock.offset += timedelta(minutes=2)  # its last heartbeat is two minutes old
        try:
            assert _codes(_ready(server)) == ["worker_heartbeat_stale"]
        finally:
            server.clock.offset -= timedelta(minutes=2)
