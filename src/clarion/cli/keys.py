"""``clarion keys``: create, list and revoke API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from clarion.api_keys.roles import ROLES
from clarion.audit import Actor
from clarion.cli.common import load_settings, run_with_context

if TYPE_CHECKING:
    from clarion.context import AppContext


@click.group("keys")
def command() -> None:
    """Manage API keys (stored hashed; a token is shown once, when created)."""


@command.command("create")
@click.option("--name", required=True, help="A name to recognise the key by.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(sorted(ROLES)),
    help="A role (repeat for several): viewer (read), status_page_publisher (incidents and "
    "maintenance), manage_settings (components).",
)
def create(name: str, roles: tuple[str, ...]) -> None:
    """Create a key and print its token alone on stdout (it is not shown again)."""
    if not name.strip() or len(name) > 200:
        raise click.BadParameter("must be 1..200 characters", param_hint="--name")
    from clarion.api_keys import service

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            _key, token = await service.create_key(
                session, name.strip(), list(roles), ctx.clock.now(), actor=Actor.cli()
            )
        return token

    click.echo(run_with_context(load_settings(), body))


@command.command("list")
def list_keys() -> None:
    """List keys: id, name, roles, created, revoked."""
    from clarion.api_keys import service

    async def body(ctx: AppContext) -> list[str]:
        async with ctx.db.read() as session:
            keys = await service.list_keys(session)
        lines = []
        for key in keys:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            lines.append(
                f"{key.id}  {key.name}  {','.join(key.roles)}  {key.token_hint}…  "
                f"created {key.created_at:%Y-%m-%d %H:%M}  {state}"
            )
        return lines

    lines = run_with_context(load_settings(), body)
    if not lines:
        click.echo("no API keys", err=True)
    for line in lines:
        click.echo(line)


@command.command("revoke")
@click.argument("key")
def revoke(key: str) -> None:
    """Revoke KEY (its id, or its name if only one live key has it). Takes effect at once."""
    from clarion.api_keys import service
    from clarion.errors import NotFound

    async def body(ctx: AppContext) -> str:
        async with ctx.db.write() as session:
            row = await service.revoke_key(session, key, ctx.clock.now(), actor=Actor.cli())
        return f"revoked {row.id} ({row.name})"

    try:
        click.echo(run_with_context(load_settings(), body))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
