"""Real ``clarion worker`` processes against the test database and a slow SMTP server: one is
SIGKILLed in the middle of a fan-out and another finishes, and two run at once; every
subscriber gets the update exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.contract.cli import stop_process
from tests.factories import make_page
from tests.harness import LiveServer, fresh_database, live_server
from tests.subscribers.helpers import add_subscribers, create_incident, outbox_rows, sdk_for
from tests.subscribers.smtp_sink import SmtpSink, smtp_sink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with smtp_sink(delay=1.0) as s:
        yield s


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with fresh_database(str(tmp_path)) as url, live_server(url) as srv:
        yield srv


@contextmanager
def worker(
    server: LiveServer, sink: SmtpSink, log: Path, **settings: Any
) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    values = {
        "database_url": server.settings.database_url,
        "base_url": server.settings.base_url,
        "secret_key": server.settings.secret_key,
        "smtp_url": sink.url,
        "smtp_from": "status@example.test",
        "outbox_lease_seconds": "3",
        "outbox_batch_size": "10",
        "outbox_concurrency": "4",
        "smtp_pool_size": "4",
        "maintenance_reminder_minutes": "0",
        "log_level": "warning",
    }
    values.update({k: str(v) for k, v in settings.items()})
    env.update({f"CLARION_{k.upper()}": v for k, v in values.items()})
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "clarion", "worker"], env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        stop_process(process, 15)


def wait_until_running(logs: list[Path], timeout: float = 90) -> None:
    """Until every worker has started its jobs (so both compete from the first row)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(log.exists() and "worker running jobs" in log.read_text() for log in logs):
            return
        time.sleep(0.1)
    raise AssertionError("the workers did not start")


def wait_until_all_sent(
    server: LiveServer, subject_id: str, count: int, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = outbox_rows(server, subject_id=subject_id)
        if len(rows) == count and all(r.status == "sent" for r in rows):
            return
        time.sleep(0.2)
    states = sorted(r.status for r in outbox_rows(server, subject_id=subject_id))
    raise AssertionError(f"not all sent: {states}")


def test_a_worker_killed_mid_fan_out_loses_nothing_and_the_next_one_sends_each_message_once(
    server: LiveServer, sink: SmtpSink, tmp_path: Path
) -> None:
    page = make_page(server)
    readers = add_subscribers(server, page.id, 24)
    with sdk_for(server) as sdk:
        incident = create_incident(sdk, page.id, "Crash test")
    assert len(outbox_rows(server, subject_id=incident.id)) == 24

    with worker(server, sink, tmp_path / "first.log") as first:
        sink.wait_for(lambda: sink.count() >= 8, timeout=60)
        # Kill in the middle of the next DATA exchanges (the slow part of a delivery: each
        # takes a second here). Only a kill between the server's 250 and the worker recording
        # it (milliseconds) could repeat a message, with the same Message-ID: the documented
        # crash window, which this test does not aim at.
        time.sleep(sink.delay / 2)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    delivered_before = sink.count()
    assert 0 < delivered_before < 24
    leased = [r for r in outbox_rows(server, subject_id=incident.id) if r.status == "sending"]
    assert leased, "the worker should have died holding leased rows"

    with worker(server, sink, tmp_path / "second.log"):
        wait_until_all_sent(server, incident.id, 24)
    for reader in readers:
        assert len(sink.to(reader)) == 1, reader
    assert sink.count() == 24


def test_two_workers_running_at_once_never_send_a_message_twice(
    server: LiveServer, sink: SmtpSink, tmp_path: Path
) -> None:
    sink.delay = 0.1
    page = make_page(server)
    readers = add_subscribers(server, page.id, 80)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with (
        worker(server, sink, logs[0], outbox_lease_seconds=60, log_level="info"),
        worker(server, sink, logs[1], outbox_lease_seconds=60, log_level="info"),
    ):
        wait_until_running(logs)
        with sdk_for(server) as sdk:
            incident = create_incident(sdk, page.id, "Two workers")
        wait_until_all_sent(server, incident.id, 80)
    for reader in readers:
        assert len(sink.to(reader)) == 1, reader
    owners = {r.lease_owner for r in outbox_rows(server, subject_id=incident.id)}
    assert len(owners) == 2, "both workers should have taken a share"
