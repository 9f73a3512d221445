"""``clarion``: one click group whose subcommands are loaded when they are used.

``clarion --help`` (and ``clarion SUBCOMMAND --help``) must answer quickly, so nothing heavy is
imported before a command runs: each subcommand module imports the application, SQLAlchemy,
the HTTP server and the like inside its command functions, never at the top (a test checks
``sys.modules`` after every ``--help``).

A new subcommand is one line in ``COMMANDS``: its name and ``module:attribute`` of its click
command (or group).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

#: Every subcommand: name → ``module:attribute`` of its click command, imported on first use.
COMMANDS = {
    "apply": "clarion.cli.apply:command",
    "audit": "clarion.cli.audit:command",
    "backup": "clarion.cli.backup:backup_command",
    "db": "clarion.cli.db:command",
    "demo": "clarion.cli.demo:command",
    "export": "clarion.cli.export:command",
    "incidents": "clarion.cli.incidents:command",
    "keys": "clarion.cli.keys:command",
    "maintenance": "clarion.cli.maintenance:command",
    "outbox": "clarion.cli.outbox:command",
    "restore": "clarion.cli.backup:restore_command",
    "serve": "clarion.cli.serve:serve_command",
    "subscribers": "clarion.cli.subscribers:command",
    "users": "clarion.cli.users:command",
    "worker": "clarion.cli.serve:worker_command",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when the subcommand is looked up."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module_name, attribute = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="clarion")
def cli() -> None:
    """Clarion: self-hosted status pages with an incident.io-compatible API.

    Configuration comes from the environment: CLARION_DATABASE_URL (a SQLAlchemy URL; default:
    clarion.db in the working directory), CLARION_BASE_URL (the public base URL; by default
    derived from serve's --host and --port) and the other CLARION_* variables listed in the
    README.
    """


def main() -> None:
    cli()
