"""``clarion outbox list`` and ``clarion outbox retry`` against a live server's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from clarion.cli.main import cli
from tests.factories import make_page
from tests.harness import LiveServer
from tests.subscribers.fixtures import mail_server, sink
from tests.subscribers.helpers import (
    add_subscribers,
    create_incident,
    drain,
    outbox_rows,
    sdk_for,
)
from tests.subscribers.smtp_sink import SmtpSink

__all__ = ["mail_server", "sink"]


def run(server: LiveServer, *args: str) -> Result:
    env = {"CLARION_DATABASE_URL": server.settings.database_url}
    return CliRunner().invoke(cli, ["outbox", *args], env=env)


@pytest.fixture
def refusing(sink: SmtpSink) -> Iterator[SmtpSink]:
    saved = dict(sink.refuse)
    try:
        yield sink
    finally:
        sink.refuse = saved


def test_list_filters_by_status_and_retry_redrives_dead_rows_and_re_enables_the_subscriber(
    mail_server: LiveServer, refusing: SmtpSink
) -> None:
    sink = refusing
    page = make_page(mail_server)
    [bad, good] = add_subscribers(mail_server, page.id, 2)
    sink.refuse[bad] = 550
    limit = mail_server.settings.subscription_failure_limit
    with sdk_for(mail_server) as sdk:
        for i in range(limit):
            create_incident(sdk, page.id, f"Refused {i}")
    drain(mail_server)
    dead = [r for r in outbox_rows(mail_server, status="dead") if r.subscription_id]
    dead_ids = {r.id for r in dead}
    assert len(dead_ids) >= limit

    listed = run(mail_server, "list", "--status", "dead", "--limit", "1000")
    assert listed.exit_code == 0, listed.output
    shown = {line.split("  ")[0] for line in listed.stdout.splitlines()}
    assert dead_ids <= shown
    assert all("  dead  " in line for line in listed.stdout.splitlines())
    assert "550" in listed.stdout and bad in listed.stdout
    assert "dead " in listed.stderr  # the summary of counts

    sent = run(mail_server, "list", "--status", "sent", "--limit", "1000")
    assert all("  sent  " in line for line in sent.stdout.splitlines())

    usage = run(mail_server, "retry")
    assert usage.exit_code != 0

    del sink.refuse[bad]
    one = sorted(dead_ids)[0]
    retried = run(mail_server, "retry", one, "01NOTAROWID0000000000000000")
    assert retried.exit_code == 1
    assert "queued 1 again" in retried.stdout
    assert "01NOTAROWID" in retried.stderr
    everything = run(mail_server, "retry", "--all-failed")
    assert everything.exit_code == 0, everything.output
    drain(mail_server)
    assert len(sink.to(bad)) == len(dead_ids)
    assert len(sink.to(good)) == limit
    assert [r for r in outbox_rows(mail_server, status="dead")] == []
