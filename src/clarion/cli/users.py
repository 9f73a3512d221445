"""``clarion users``: the people who sign in to the console (create, list, set-role,
deactivate, activate, reset-password). Imports stay inside the commands: ``clarion --help``
loads none of the console."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from clarion.context import AppContext

T = TypeVar("T")
#: The roles a user may hold: the API keys' (``clarion.api_keys.service.ROLES``).
ROLE_CHOICES = ("manage_settings", "status_page_publisher", "status_page_viewer", "viewer")
ROLE_HELP = (
    "A role (repeat for several): viewer (read), status_page_publisher (incidents and "
    "maintenance), manage_settings (settings, notification retries)."
)


def _run(body: Callable[[AppContext], Awaitable[T]]) -> T:
    """Run ``body`` against the configured database; Clarion's errors become one line."""
    from clarion.cli.common import load_settings, run_with_context
    from clarion.errors import ClarionError

    try:
        return run_with_context(load_settings(), body)
    except ClarionError as exc:
        raise click.ClickException(str(exc)) from exc


def _new_password(email: str, from_stdin: bool) -> str:
    """A password read from stdin (its first line) or prompted twice, checked against the
    rules before anything is stored."""
    from clarion.console.passwords import password_problem

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt="Repeat the password"
        )
    problem = password_problem(password, email)
    if problem is not None:
        raise click.ClickException(problem)
    return password


@click.group("users")
def command() -> None:
    """People who sign in to the console at BASE_URL/admin (passwords stored as argon2id
    hashes)."""


@command.command("create")
@click.argument("email")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice(ROLE_CHOICES), help=ROLE_HELP
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
def create(email: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create a user who signs in with EMAIL and a password (asked for twice, or read from
    stdin): at least 12 characters, not one of the 20,000 most common."""
    from clarion.audit import Actor
    from clarion.console import users

    try:
        normal = users.check_email(email)
    except Exception as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    password = _new_password(normal, password_stdin)

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            user = await users.create_user(
                session, normal, password, list(roles), ctx.clock.now(), actor=Actor.cli()
            )
        return f"created {user.email} ({', '.join(user.roles)})"

    click.echo(_run(body))


@command.command("list")
def list_users() -> None:
    """List users: e-mail, roles, state, created, last sign-in."""
    from clarion.console import users

    async def body(ctx: AppContext) -> list[str]:
        async with ctx.db.read() as session:
            found = await users.list_users(session)
        lines = []
        for user in found:
            state = (
                f"deactivated {user.deactivated_at:%Y-%m-%d %H:%M}"
                if user.deactivated_at
                else "active"
            )
            last = f"{user.last_sign_in_at:%Y-%m-%d %H:%M}" if user.last_sign_in_at else "never"
            lines.append(
                f"{user.email}  {','.join(user.roles)}  {state}  "
                f"created {user.created_at:%Y-%m-%d %H:%M}  last sign-in {last}"
            )
        return lines

    lines = _run(body)
    if not lines:
        click.echo("no users", err=True)
    for line in lines:
        click.echo(line)


@command.command("set-role")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLE_CHOICES),
    help=ROLE_HELP + " Replaces the user's roles.",
)
def set_role(email: str, roles: tuple[str, ...]) -> None:
    """Replace EMAIL's roles (open sessions have them at their next request)."""
    from clarion.audit import Actor
    from clarion.console import users

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            user = await users.set_roles(
                session, email, list(roles), ctx.clock.now(), actor=Actor.cli()
            )
        return f"{user.email} now has {', '.join(user.roles)}"

    click.echo(_run(body))


@command.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """EMAIL can no longer sign in, and every open session of theirs ends now."""
    from clarion.audit import Actor
    from clarion.console import users

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            user, ended = await users.deactivate(session, email, ctx.clock.now(), actor=Actor.cli())
        return f"deactivated {user.email}; ended {ended} session{'' if ended == 1 else 's'}"

    click.echo(_run(body))


@command.command("activate")
@click.argument("email")
def activate(email: str) -> None:
    """EMAIL, deactivated before, may sign in again."""
    from clarion.audit import Actor
    from clarion.console import users

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            user = await users.activate(session, email, ctx.clock.now(), actor=Actor.cli())
        return f"activated {user.email}"

    click.echo(_run(body))


@command.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
def reset_password(email: str, password_stdin: bool) -> None:
    """Give EMAIL a new password (asked for twice, or read from stdin); every open session
    of theirs ends."""
    from clarion.audit import Actor
    from clarion.console import users

    password = _new_password(users.normalise_email(email), password_stdin)

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            user, ended = await users.reset_password(
                session, email, password, ctx.clock.now(), actor=Actor.cli()
            )
        return f"new password for {user.email}; ended {ended} session{'' if ended == 1 else 's'}"

    click.echo(_run(body))
