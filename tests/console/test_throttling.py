"""Sign-in attempts are throttled per e-mail address and per client address, with the same
answer whether or not the address belongs to a user."""

from __future__ import annotations

import uuid

from tests.console.helpers import PASSWORD, Console, new_user, random_address
from tests.harness import LiveServer

_address = random_address


def test_an_account_is_throttled_after_repeated_failures_even_from_many_addresses(
    server: LiveServer,
) -> None:
    email = new_user(server)
    allowed = server.settings.console_signin_account_attempts
    for _ in range(allowed):
        answer = Console(server, _address()).sign_in(email, "wrong password, again")
        assert answer.status_code == 400
    throttled = Console(server, _address())
    answer = throttled.sign_in(email)  # the right password, too late
    assert answer.status_code == 429
    assert "Too many sign-in attempts" in answer.text
    assert int(answer.headers["retry-after"]) >= 1
    assert throttled.session is None
    # Another account is not affected.
    other = Console(server, _address())
    assert other.sign_in(new_user(server)).status_code == 303


def test_an_unknown_address_is_throttled_the_same_way(server: LiveServer) -> None:
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
    answers = [
        Console(server, _address()).sign_in(email, PASSWORD).status_code
        for _ in range(server.settings.console_signin_account_attempts + 1)
    ]
    assert answers[:-1] == [400] * (len(answers) - 1)
    assert answers[-1] == 429


def test_a_client_address_is_throttled_across_accounts(server: LiveServer) -> None:
    address = _address()
    allowed = server.settings.console_signin_address_attempts
    for i in range(allowed):
        answer = Console(server, address).sign_in(f"guess-{i}-{uuid.uuid4().hex[:6]}@example.test")
        assert answer.status_code == 400
    victim = new_user(server)
    assert Console(server, address).sign_in(victim).status_code == 429
    assert Console(server, _address()).sign_in(victim).status_code == 303


def test_the_throttle_lets_attempts_through_again_as_time_passes(server: LiveServer) -> None:
    email = new_user(server)
    for _ in range(server.settings.console_signin_account_attempts):
        Console(server, _address()).sign_in(email, "wrong password, again")
    assert Console(server, _address()).sign_in(email).status_code == 429
    saved = server.clock.offset
    try:
        from datetime import timedelta

        server.clock.offset += timedelta(
            seconds=server.settings.console_signin_account_refill_seconds + 1
        )
        assert Console(server, _address()).sign_in(email).status_code == 303
    finally:
        server.clock.offset = saved
