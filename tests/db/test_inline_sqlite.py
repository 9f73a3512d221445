"""SQLite statements run on the event loop's thread: while another process holds the database's
write lock, a write here waits with asynchronous sleeps (the server keeps answering) and goes
through once the lock is released."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.contract.checks import Raw
from tests.factories import PageInfo
from tests.harness import LiveServer, backend

pytestmark = pytest.mark.skipif(backend() != "sqlite", reason="SQLite's write lock")

HOLD_SECONDS = 1.5


def test_a_write_waits_for_another_process_lock_without_blocking_the_server(
    server: LiveServer, raw: Raw, token: str, page: PageInfo
) -> None:
    path = make_url(server.settings.database_url).database
    assert path
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # what a `clarion` command writing at this moment holds
    locked_at = time.monotonic()
    outcome: dict[str, object] = {}

    def publish() -> None:
        started = time.monotonic()
        response = httpx.post(
            f"{server.base_url}/v2/status_page_incidents",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "status_page_id": page.id,
                "name": "Waited for the lock",
                "incident_status": "investigating",
                "message": "Investigating",
                "notify_subscribers": False,
                "idempotency_key": uuid.uuid4().hex,
            },
            timeout=30,
        )
        outcome.update(status=response.status_code, seconds=time.monotonic() - started)

    writer = threading.Thread(target=publish)
    try:
        writer.start()
        time.sleep(0.3)  # the create is now waiting for the lock
        answered: list[float] = []
        while time.monotonic() - locked_at < HOLD_SECONDS - 0.4 and len(answered) < 5:
            started = time.monotonic()
            listed = raw.get("/v2/status_page_incidents", params={"status_page_id": page.id})
            assert listed.status_code == 200
            answered.append(time.monotonic() - started)
            time.sleep(0.1)
        assert "status" not in outcome, "the create did not wait for the lock"
        # Reads kept being answered promptly while the write waited.
        assert max(answered) < 0.5, answered
    finally:
        time.sleep(max(0.0, HOLD_SECONDS - (time.monotonic() - locked_at)))
        other.execute("ROLLBACK")
        other.close()
        writer.join(30)
    assert outcome["status"] == 201
    assert float(str(outcome["seconds"])) >= 0.5
    names = [
        i["name"]
        for i in raw.get("/v2/status_page_incidents", params={"status_page_id": page.id}).json()[
            "status_page_incidents"
        ]
    ]
    assert names == ["Waited for the lock"]
