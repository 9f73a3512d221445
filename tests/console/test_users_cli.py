"""``clarion users`` through click's runner against the live server's database: creating users
(password from a prompt with confirmation, or from stdin), the password rules, e-mail
addresses compared without case, listing, roles, deactivation and password resets (which end
the user's sessions)."""

from __future__ import annotations

import uuid

from click.testing import CliRunner, Result
from sqlalchemy import select

from clarion.cli.main import cli
from clarion.console.models import User
from clarion.context import AppContext
from tests.console.helpers import PASSWORD, Console
from tests.harness import LiveServer


def run_users(server: LiveServer, *args: str, stdin: str | None = None) -> Result:
    env = {"CLARION_DATABASE_URL": server.settings.database_url}
    return CliRunner().invoke(cli, ["users", *args], env=env, input=stdin)


def create(
    server: LiveServer, email: str, *roles: str, stdin: str = PASSWORD, prompt: bool = False
) -> Result:
    """``users create EMAIL --role …`` (default: viewer), the password from stdin, or typed
    at the prompt when ``prompt``."""
    args = [arg for role in roles or ("viewer",) for arg in ("--role", role)]
    return run_users(
        server, "create", email, *args, *([] if prompt else ["--password-stdin"]), stdin=stdin
    )


def _email() -> str:
    return f"Ops-{uuid.uuid4().hex[:8]}@Example.TEST"


def stored(server: LiveServer, email: str) -> User | None:
    async def body(ctx: AppContext) -> User | None:
        async with ctx.db.read() as session:
            return await session.scalar(select(User).where(User.email == email.lower()))

    return server.call(body)


def test_create_with_a_prompt_asks_twice_and_stores_an_argon2id_hash(server: LiveServer) -> None:
    email = _email()
    result = create(
        server,
        email,
        "viewer",
        "status_page_publisher",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
        prompt=True,
    )
    assert result.exit_code == 0, result.output
    assert f"created {email.lower()} (status_page_publisher, viewer)" in result.output
    assert PASSWORD not in result.output  # the prompt does not echo it
    user = stored(server, email)
    assert user is not None and user.email == email.lower()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert Console(server).sign_in(email.upper()).status_code == 303


def test_create_refuses_a_confirmation_that_differs(server: LiveServer) -> None:
    email = _email()
    typed = f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n"
    result = create(server, email, stdin=typed, prompt=True)
    assert "do not match" in result.output.lower() or "don't match" in result.output.lower()
    assert result.exit_code == 0  # click asks again; the second pair matches


def test_create_reads_the_password_from_stdin(server: LiveServer) -> None:
    email = _email()
    result = run_users(
        server,
        "create",
        email,
        "--role",
        "manage_settings",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert Console(server).sign_in(email).status_code == 303


def test_short_and_common_passwords_are_refused(server: LiveServer) -> None:
    for password, reason in (
        ("short pw", "at least 12 characters"),
        ("password1234", "most common passwords"),
        ("Qwertyuiop123", "most common passwords"),
    ):
        email = _email()
        result = create(server, email, stdin=password)
        assert result.exit_code == 1, result.output
        assert reason in result.output
        assert stored(server, email) is None


def test_the_same_address_in_another_case_is_refused(server: LiveServer) -> None:
    email = _email()
    assert create(server, email).exit_code == 0
    again = create(server, email.swapcase())
    assert again.exit_code == 1
    assert "exists" in again.output


def test_a_bad_role_and_a_bad_address_are_refused(server: LiveServer) -> None:
    bad_role = create(server, _email(), "root")
    assert bad_role.exit_code == 2 and "root" in bad_role.output
    bad_email = create(server, "not-an-address")
    assert bad_email.exit_code == 2 and "e-mail address" in bad_email.output


def test_list_set_role_deactivate_activate_and_reset_password(server: LiveServer) -> None:
    email = _email().lower()
    create(server, email)
    listed = run_users(server, "list")
    [line] = [line for line in listed.output.splitlines() if line.startswith(email)]
    assert "  viewer  active  created " in line and "last sign-in never" in line
    assert "$argon2" not in listed.output

    changed = run_users(server, "set-role", email, "--role", "manage_settings", "--role", "viewer")
    assert changed.exit_code == 0
    assert stored(server, email).roles == ["manage_settings", "viewer"]  # type: ignore[union-attr]

    console = Console(server)
    assert console.sign_in(email).status_code == 303
    new_password = "an entirely new passphrase"
    reset = run_users(server, "reset-password", email, "--password-stdin", stdin=new_password)
    assert reset.exit_code == 0 and "ended 1 session" in reset.output
    assert console.get("/admin").status_code == 303
    assert Console(server).sign_in(email, new_password).status_code == 303

    gone = run_users(server, "deactivate", email)
    assert gone.exit_code == 0 and "deactivated" in gone.output
    assert "deactivated" in next(
        line for line in run_users(server, "list").output.splitlines() if line.startswith(email)
    )
    assert Console(server).sign_in(email, new_password).status_code == 400
    assert run_users(server, "activate", email).exit_code == 0
    assert Console(server).sign_in(email, new_password).status_code == 303


def test_commands_on_an_unknown_user_fail_with_one_line(server: LiveServer) -> None:
    for args in (
        ("deactivate", "ghost@example.test"),
        ("set-role", "ghost@example.test", "--role", "viewer"),
    ):
        result = run_users(server, *args)
        assert result.exit_code == 1
        assert "No user with the e-mail address ghost@example.test" in result.output
