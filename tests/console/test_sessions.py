"""Signing in and out over raw HTTP: redirects, the session cookie and its rotation, the same
answer for an unknown address and a wrong password, sign-out (here and everywhere), expiry,
and the security headers of every console answer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from clarion.console.models import ConsoleSession
from clarion.context import AppContext
from tests.console.helpers import PASSWORD, Console, new_user, signed_in
from tests.harness import LiveServer

CSRF = r'name="csrf_token" value="[^"]*"'
CONSOLE_PATHS = ["/admin", "/admin/incidents", "/admin/maintenance", "/admin/audit"]


@pytest.fixture(autouse=True)
def _clock_back(server: LiveServer) -> object:
    saved = server.clock.offset
    yield None
    server.clock.offset = saved


@pytest.mark.parametrize("path", [*CONSOLE_PATHS, "/admin/sign-out"])
def test_a_visitor_without_a_session_is_sent_to_the_sign_in_page(
    server: LiveServer, path: str
) -> None:
    console = Console(server)
    answer = console.get(path + "?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/sign-in?next=" + path + "%3Fx%3D1"
    page = console.get(answer.headers["location"])
    assert page.status_code == 200
    for label in (
        '<label for="field-email">Email</label>',
        ">Password</label>",
        ">Sign in</button>",
    ):
        assert label in page.text


def test_signing_in_sets_a_strict_cookie_and_goes_to_next_when_it_is_a_console_path(
    server: LiveServer,
) -> None:
    console = Console(server)
    email = new_user(server)
    answer = console.sign_in(email, next_path="/admin/incidents?page=2")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/incidents?page=2"
    [cookie] = [c for c in console.set_cookies if c.startswith("clarion_console=")]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/admin"} <= attributes
    assert "secure" not in attributes  # the test server's base URL is http
    assert console.get("/admin").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin",
        "//evil.example/admin",
        "/\\evil.example",
        "/evil",
        "/administrator",
        "javascript:alert(1)",
    ],
)
def test_next_never_leads_off_the_console(server: LiveServer, target: str) -> None:
    console = Console(server)
    answer = console.sign_in(new_user(server), next_path=target)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin"


def test_the_session_id_changes_at_sign_in_and_the_old_one_ends(server: LiveServer) -> None:
    console = Console(server)
    email = new_user(server)
    console.sign_in(email)
    first = console.session
    assert first is not None
    console.sign_in(email)
    second = console.session
    assert second is not None and second != first
    stale = Console(server)
    stale.cookies["clarion_console"] = first
    assert stale.get("/admin").status_code == 303
    assert console.get("/admin").status_code == 200


def test_a_session_chosen_before_sign_in_is_never_kept(server: LiveServer) -> None:
    console = Console(server)
    console.cookies["clarion_console"] = "chosen-by-an-attacker"
    console.sign_in(new_user(server))
    assert console.session not in (None, "chosen-by-an-attacker")


def test_only_the_hash_of_a_session_token_is_stored(server: LiveServer) -> None:
    console = signed_in(server)
    token = console.session
    assert token is not None

    async def stored(ctx: AppContext) -> list[str]:
        async with ctx.db.read() as session:
            rows = (await session.scalars(select(ConsoleSession))).all()
            return [f"{r.id} {r.token_hash} {r.csrf_token}" for r in rows]

    rows = server.call(stored)
    assert rows and not any(token in row for row in rows)


def test_an_unknown_address_and_a_wrong_password_get_the_same_answer(server: LiveServer) -> None:
    email = new_user(server)
    answers = []
    for who, password in ((email, "not the password at all"), ("nobody@example.test", PASSWORD)):
        console = Console(server, address=f"10.1.{len(answers)}.1")
        answer = console.sign_in(who, password)
        answers.append((answer.status_code, answer.text.replace(who, "EMAIL"), console.session))
    (status_a, text_a, session_a), (status_b, text_b, session_b) = answers
    assert status_a == status_b == 400
    assert session_a is None and session_b is None
    assert "The e-mail address or the password is not right." in text_a
    # The pages differ only in the form's own CSRF token.
    assert re.sub(CSRF, "", text_a) == re.sub(CSRF, "", text_b)


def test_a_deactivated_user_cannot_sign_in_and_gets_the_same_answer(server: LiveServer) -> None:
    from tests.console.test_users_cli import run_users

    email = new_user(server)
    assert run_users(server, "deactivate", email).exit_code == 0
    console = Console(server, address="10.2.0.1")
    answer = console.sign_in(email)
    assert answer.status_code == 400
    assert "The e-mail address or the password is not right." in answer.text
    assert console.session is None


def test_sign_out_ends_this_session_only(server: LiveServer) -> None:
    email = new_user(server)
    laptop, phone = Console(server), Console(server)
    laptop.sign_in(email)
    phone.sign_in(email)
    token = laptop.session
    page = laptop.get("/admin/sign-out")
    assert ">Sign out</button>" in page.text and ">Sign out everywhere</button>" in page.text
    answer = laptop.submit("/admin/sign-out", {}, page="/admin/sign-out")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/sign-in?signed_out=out"
    assert laptop.session is None
    assert "You have signed out." in laptop.get(answer.headers["location"]).text
    replay = Console(server)
    replay.cookies["clarion_console"] = str(token)
    assert replay.get("/admin").status_code == 303
    assert phone.get("/admin").status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_user(server: LiveServer) -> None:
    email = new_user(server)
    others = signed_in(server)
    laptop, phone = Console(server), Console(server)
    laptop.sign_in(email)
    phone.sign_in(email)
    answer = laptop.submit("/admin/sign-out", {"everywhere": "1"}, page="/admin/sign-out")
    assert answer.headers["location"] == "/admin/sign-in?signed_out=everywhere"
    assert laptop.get("/admin").status_code == 303
    assert phone.get("/admin").status_code == 303
    assert others.get("/admin").status_code == 200


def test_a_session_ends_when_idle_for_too_long(server: LiveServer) -> None:
    console = signed_in(server)
    idle = timedelta(minutes=server.settings.console_session_idle_minutes)
    server.clock.offset += idle - timedelta(minutes=1)
    assert console.get("/admin").status_code == 200  # a request keeps it alive
    server.clock.offset += idle - timedelta(minutes=1)
    assert console.get("/admin").status_code == 200
    server.clock.offset += idle + timedelta(seconds=1)
    assert console.get("/admin").status_code == 303


def test_a_busy_session_still_ends_at_its_absolute_expiry(server: LiveServer) -> None:
    console = signed_in(server)
    step = timedelta(minutes=server.settings.console_session_idle_minutes // 2)
    end = timedelta(hours=server.settings.console_session_max_hours)
    elapsed = timedelta()
    while elapsed + step < end:
        server.clock.offset += step
        elapsed += step
        assert console.get("/admin").status_code == 200
    server.clock.offset += end - elapsed
    assert console.get("/admin").status_code == 303


def test_every_console_answer_carries_the_security_headers(server: LiveServer) -> None:
    console = signed_in(server, "viewer")
    anonymous = Console(server)
    answers = [
        *(console.get(path) for path in [*CONSOLE_PATHS, "/admin/sign-out", "/admin/nothing"]),
        anonymous.get("/admin/sign-in"),
        anonymous.get("/admin"),
        anonymous.post("/admin/sign-in", {}),
        console.post("/admin/notifications/retry", {}),
    ]
    statuses = [a.status_code for a in answers]
    assert statuses == [200, 200, 200, 200, 200, 404, 200, 303, 403, 403]
    for answer in answers:
        headers = answer.headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        if answer.status_code != 303:
            assert answer.headers["content-type"].startswith("text/html")
            assert "<script>" not in answer.text and " on" + "click=" not in answer.text


def test_assets_are_served_with_long_cache_headers_and_htmx_licence_alongside(
    server: LiveServer,
) -> None:
    console = signed_in(server)
    page = console.get("/admin").text
    for name in ("console.css", "htmx-2.0.11.min.js"):
        link = page.split(f"/admin/static/{name}?v=")[1].split('"')[0]
        answer = console.get(f"/admin/static/{name}?v={link}")
        assert answer.status_code == 200
        assert "immutable" in answer.headers["cache-control"]
        assert "max-age=31536000" in answer.headers["cache-control"]
    assert console.get("/admin/static/htmx.LICENSE").status_code == 404  # only assets served
    assert console.get("/admin/static/..%2Fmodels.py").status_code == 404


def test_no_status_page_can_take_the_console_s_path(server: LiveServer) -> None:
    from clarion.status_pages.declare import DeclarationError, parse_declaration

    with pytest.raises(DeclarationError, match="'admin' is reserved"):
        parse_declaration({"status_pages": [{"slug": "admin", "name": "Admin"}]})


def test_the_overview_refreshing_itself_does_not_keep_an_idle_session_alive(
    server: LiveServer,
) -> None:
    console = signed_in(server)
    poll = {"HX-Request": "true", "X-Clarion-Poll": "1"}
    idle = timedelta(minutes=server.settings.console_session_idle_minutes)
    server.clock.offset += idle - timedelta(minutes=2)
    assert console.get("/admin", headers=poll).status_code == 200
    server.clock.offset += timedelta(minutes=3)
    ended = console.get("/admin", headers=poll)
    # htmx is told to take the whole page to the sign-in page.
    assert ended.status_code == 204
    assert ended.headers["hx-redirect"] == "/admin/sign-in"
