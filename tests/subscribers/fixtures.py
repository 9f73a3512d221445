"""Fixtures for notification tests: a real SMTP sink and a Clarion wired to it (the outbox
is drained by the tests, no background worker). Import them into a test module or conftest."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.harness import LiveServer, fresh_database, live_server
from tests.subscribers.smtp_sink import SmtpSink, smtp_sink


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as s:
        yield s


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[LiveServer]:
    with (
        fresh_database(str(tmp_path_factory.mktemp("mail"))) as url,
        live_server(
            url,
            smtp_url=sink.url,
            smtp_from="Status <status@example.test>",
            outbox_retry_base_seconds=10,
            outbox_max_attempts=3,
            subscription_failure_limit=4,
            # Test addresses live under the reserved .test domain, and one loopback client
            # subscribes them all: the form's budgets are tested in test_abuse_limits.py.
            subscribe_allow_test_domains=True,
            subscribe_per_client_per_hour=100_000,
            subscribe_per_mailbox_per_day=100_000,
        ) as srv,
    ):
        yield srv


@pytest.fixture
def http(mail_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mail_server.base_url, timeout=30) as client:
        yield client
