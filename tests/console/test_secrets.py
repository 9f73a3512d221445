"""No page and no log line ever shows a password or a session token."""

from __future__ import annotations

import logging

import pytest

from tests.console.helpers import Console, new_user
from tests.console.test_users_cli import run_users
from tests.harness import LiveServer

SECRET = "orchid lantern seventeen"


def test_passwords_and_session_tokens_never_appear_in_pages_or_logs(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = new_user(server, "manage_settings", password=SECRET)
    bodies: list[str] = []
    console = Console(server)
    wrong = console.sign_in(email, SECRET + " typo")
    bodies.append(wrong.text)
    assert SECRET not in wrong.text  # the password field is never filled in again
    right = console.sign_in(email, SECRET)
    token = console.session
    assert right.status_code == 303 and token
    for path in (
        "/admin",
        "/admin/incidents",
        "/admin/maintenance",
        "/admin/sign-out",
        "/admin/nothing",
    ):
        bodies.append(console.get(path).text)
    bodies.append(console.post("/admin/notifications/retry", {"csrf_token": "x"}).text)
    bodies.append(console.submit("/admin/notifications/retry", {}).text)
    cli = run_users(server, "reset-password", email, stdin=f"{SECRET} two\n{SECRET} two\n")
    assert cli.exit_code == 0
    bodies.append(cli.output)
    # Clarion's own log lines (the test's HTTP client logs what it receives, cookies included).
    server_log = "\n".join(
        record.getMessage() + (record.exc_text or "")
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )
    assert server_log or caplog.records
    for text in [*bodies, server_log]:
        assert SECRET not in text
        assert token not in text
