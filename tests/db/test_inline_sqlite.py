"""SQLite statements run on the event loop's thread: while another process holds the database's
write lock, a write here waits with asynchronous sleeps (the server keeps answering) and goes
through once the lock is released."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from tests.contract.checks import Raw
from tests.factories import PageInfo
from tests.harness import LiveServer, backend
from tests.incidents.test_list_incidents import create

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
        client = Raw(server.base_url, token)
        try:
            outcome["id"] = create(client, page.id, "Waited for the lock")  # asserts the 201
        except BaseException as error:  # reported by the test's own thread below
            outcome["error"] = error
        finally:
            client.close()
            outcome["seconds"] = time.monotonic() - started

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
        assert "seconds" not in outcome, "the create did not wait for the lock"
        # Reads kept being answered promptly while the write waited.
        assert max(answered) < 0.5, answered
    finally:
        time.sleep(max(0.0, HOLD_SECONDS - (time.monotonic() - locked_at)))
        other.execute("ROLLBACK")
        other.close()
        writer.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert float(str(outcome["seconds"])) >= 0.5
    after = raw.get("/v2/status_page_incidents", params={"status_page_id": page.id}).json()
    assert [(i["id"], i["name"]) for i in after["status_page_incidents"]] == [
        (outcome["id"], "Waited for the lock")
    ]
