"""``clarion``: serve, worker, apply, keys, users, db, demo (and what other modules add)."""

from __future__ import annotations

import importlib
from types import ModuleType

import click

SUBCOMMAND_MODULES = (
    "clarion.cli.serve",
    "clarion.cli.keys",
    "clarion.cli.apply",
    "clarion.cli.db",
    "clarion.cli.demo",
    "clarion.cli.users",
    "clarion.cli.backup",
)
OPTIONAL_SUBCOMMAND_MODULES = (
    "clarion.cli.export",
    "clarion.cli.outbox",
    "clarion.cli.subscribers",
    "clarion.cli.incidents",
    "clarion.cli.maintenance",
    "clarion.cli.audit",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clarion")
def cli() -> None:
    """Clarion: self-hosted status pages with an incident.io-compatible API.

    Configuration comes from the environment: CLARION_DATABASE_URL (a SQLAlchemy URL; default:
    clarion.db in the working directory), CLARION_BASE_URL (the public base URL) and the
    other CLARION_* variables listed in the README.
    """


def _register() -> None:
    for name in SUBCOMMAND_MODULES:
        _add(importlib.import_module(name))
    for name in OPTIONAL_SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        _add(module)


def _add(module: ModuleType) -> None:
    """A subcommand module exposes ``command`` or a list ``commands``."""
    commands: list[click.Command] = getattr(module, "commands", None) or [module.command]
    for command in commands:
        cli.add_command(command)


_register()


def main() -> None:
    cli()
