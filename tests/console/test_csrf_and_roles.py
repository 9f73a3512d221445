"""Every form post needs its session's CSRF token, and every action its role: refused posts
change nothing. Deactivating a user ends their open sessions at their next request."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from clarion.context import AppContext
from clarion.ids import new_id
from clarion.notifications.models import DEAD, FAILED, PENDING, OutboxMessage
from tests.console.helpers import Console, new_user, signed_in
from tests.console.test_users_cli import run_users
from tests.factories import PageInfo, make_page
from tests.harness import LiveServer
from tests.subscribers.helpers import add_subscribers


def failed_deliveries(server: LiveServer, page: PageInfo, count: int) -> list[str]:
    """``count`` failed or dead deliveries to new subscribers of ``page`` (written directly, as
    the worker leaves them); returns their ids."""
    from clarion.subscribers.models import Subscription

    addresses = add_subscribers(server, page.id, count, prefix="failing")

    async def body(ctx: AppContext) -> list[str]:
        now = ctx.clock.now()
        ids = []
        async with ctx.db.write() as session:
            subscriptions = (
                await session.scalars(select(Subscription).where(Subscription.email.in_(addresses)))
            ).all()
            for i, subscription in enumerate(subscriptions):
                row_id = new_id()
                ids.append(row_id)
                session.add(
                    OutboxMessage(
                        id=row_id,
                        subscription_id=subscription.id,
                        channel="email",
                        kind="incident.created",
                        subject_id=new_id(),
                        update_id=None,
                        payload={},
                        dedupe_key=f"console-test-{row_id}",
                        status=FAILED if i % 2 else DEAD,
                        attempts=8,
                        next_attempt_at=now,
                        last_error="550 mailbox unavailable",
                        created_at=now,
                    )
                )
        return ids

    return server.call(body)


def statuses(server: LiveServer, ids: list[str]) -> dict[str, str]:
    async def body(ctx: AppContext) -> dict[str, str]:
        async with ctx.db.read() as session:
            rows = await session.execute(
                select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.id.in_(ids))
            )
            return {row_id: status for row_id, status in rows.all()}

    return server.call(body)


@pytest.fixture(scope="module")
def page(server: LiveServer) -> PageInfo:
    return make_page(server, components=2)


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(
    server: LiveServer, page: PageInfo
) -> None:
    ids = failed_deliveries(server, page, 2)
    console = signed_in(server, "manage_settings")
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "guessed"}):
        answer = console.post("/admin/notifications/retry", data)
        assert answer.status_code == 403
        assert "This form has expired" in answer.text
    assert set(statuses(server, ids).values()) <= {FAILED, DEAD}


def test_a_post_with_another_session_s_token_is_refused(server: LiveServer, page: PageInfo) -> None:
    ids = failed_deliveries(server, page, 2)
    mine = signed_in(server, "manage_settings")
    theirs = signed_in(server, "manage_settings")
    their_token = theirs.csrf()
    assert their_token != mine.csrf()
    answer = mine.post("/admin/notifications/retry", {"csrf_token": their_token})
    assert answer.status_code == 403
    assert set(statuses(server, ids).values()) <= {FAILED, DEAD}
    # The same user's other session has another token too.
    email = new_user(server, "manage_settings")
    one, two = Console(server), Console(server)
    one.sign_in(email)
    two.sign_in(email)
    assert one.post("/admin/notifications/retry", {"csrf_token": two.csrf()}).status_code == 403
    assert set(statuses(server, ids).values()) <= {FAILED, DEAD}


def test_a_post_from_another_origin_is_refused_even_with_the_token(
    server: LiveServer, page: PageInfo
) -> None:
    ids = failed_deliveries(server, page, 1)
    console = signed_in(server, "manage_settings")
    answer = console.post(
        "/admin/notifications/retry",
        {"csrf_token": console.csrf()},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert set(statuses(server, ids).values()) <= {FAILED, DEAD}


def test_the_sign_in_form_needs_its_own_token(server: LiveServer) -> None:
    console = Console(server)
    data = {"email": new_user(server), "password": "violet kettle drums at noon"}
    assert console.post("/admin/sign-in", data).status_code == 403
    console.get("/admin/sign-in")  # the cookie, but not the form's field
    assert console.post("/admin/sign-in", data).status_code == 403
    assert console.session is None


@pytest.mark.parametrize(
    "roles", [("viewer",), ("status_page_publisher",), ("viewer", "status_page_publisher")]
)
def test_without_manage_settings_retrying_deliveries_is_refused_and_changes_nothing(
    server: LiveServer, page: PageInfo, roles: tuple[str, ...]
) -> None:
    ids = failed_deliveries(server, page, 2)
    before = statuses(server, ids)
    console = signed_in(server, *roles)
    overview = console.get("/admin")
    assert "failed and" in overview.text and ">Retry</button>" not in overview.text
    token = console.csrf()
    answer = console.post("/admin/notifications/retry", {"csrf_token": token})
    assert answer.status_code == 403
    assert "manage_settings" in answer.text
    assert statuses(server, ids) == before


def test_manage_settings_retries_every_failed_and_dead_delivery(
    server: LiveServer, page: PageInfo
) -> None:
    ids = failed_deliveries(server, page, 3)
    console = signed_in(server, "manage_settings")
    overview = console.get("/admin")
    assert ">Retry</button>" in overview.text
    assert "550 mailbox unavailable" in overview.text
    answer = console.submit("/admin/notifications/retry", {})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin#notifications"
    assert set(statuses(server, ids).values()) == {PENDING}
    after = console.get("/admin").text
    assert "Queued " in after and " again." in after
    assert "Queued " not in console.get("/admin").text  # a flash is shown once


def test_a_deactivated_user_s_open_session_stops_at_the_next_request(
    server: LiveServer, page: PageInfo
) -> None:
    email = new_user(server, "manage_settings")
    laptop, phone = Console(server), Console(server)
    laptop.sign_in(email)
    phone.sign_in(email)
    token = laptop.csrf()
    assert run_users(server, "deactivate", email).exit_code == 0
    ids = failed_deliveries(server, page, 1)
    assert laptop.get("/admin").status_code == 303
    refused: Any = phone.post("/admin/notifications/retry", {"csrf_token": token})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/admin/sign-in"
    assert set(statuses(server, ids).values()) <= {FAILED, DEAD}


def test_a_role_taken_away_counts_at_the_next_request(server: LiveServer, page: PageInfo) -> None:
    email = new_user(server, "manage_settings")
    console = Console(server)
    console.sign_in(email)
    token = console.csrf()
    assert run_users(server, "set-role", email, "--role", "viewer").exit_code == 0
    ids = failed_deliveries(server, page, 1)
    assert console.post("/admin/notifications/retry", {"csrf_token": token}).status_code == 403
    assert set(statuses(server, ids).values()) <= {FAILED, DEAD}
