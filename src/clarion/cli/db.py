"""``clarion db upgrade``."""

from __future__ import annotations

import click

from clarion.cli.common import load_settings, migrate


@click.group("db")
def command() -> None:
    """Database schema."""


@command.command("upgrade")
def upgrade_command() -> None:
    """Bring the database to the current schema (every other command does this too)."""
    migrate(load_settings())
    click.echo("database is at the current schema")
