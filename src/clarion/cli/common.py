"""Helpers shared by the subcommands."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from pydantic import ValidationError

    from clarion.context import AppContext
    from clarion.settings import Settings

# Light on purpose: every subcommand module imports this one at its top, and ``clarion
# --help`` imports every subcommand module (see ``clarion.cli.main``). What is heavy is
# imported inside the functions.

T = TypeVar("T")


def load_settings() -> Settings:
    from pydantic import ValidationError

    from clarion.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        raise click.ClickException(settings_problems(exc)) from None


def settings_problems(error: ValidationError) -> str:
    """Every problem of the environment on one line, each named by its variable
    (``CLARION_DATABASE_URL: unsupported database 'mysql'; …``)."""
    problems = []
    for found in error.errors(include_url=False):
        name = "CLARION_" + "_".join(str(part) for part in found["loc"]).upper()
        cause = found.get("ctx", {}).get("error")
        problems.append(f"{name}: {cause if cause is not None else found['msg']}")
    return "; ".join(problems)


def migrate(settings: Settings, *, new_database: bool = False) -> None:
    """Bring the database to the current schema (every command that touches it does).
    ``new_database``: create a new SQLite file even where one was before."""
    from clarion.db.migrate import upgrade

    try:
        upgrade(settings.database_url, allow_new=new_database)
    except Exception as exc:
        raise click.ClickException(f"cannot prepare the database: {exc}") from exc


def run_with_context(settings: Settings, body: Callable[[AppContext], Awaitable[T]]) -> T:
    """Migrate, then run ``body`` with a fresh context, closing it afterwards."""
    from clarion.context import AppContext

    migrate(settings)

    async def runner() -> T:
        ctx = AppContext.build(settings)
        try:
            return await body(ctx)
        finally:
            await ctx.close()

    return asyncio.run(runner())


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


#: Hosts that listen on every address: they name no address a reader could use.
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def derived_base_url(host: str, port: int) -> str:
    """The public base URL of a server listening on ``host:port`` (``http://HOST:PORT``; a
    wildcard host is replaced by loopback, an IPv6 address bracketed)."""
    name = WILDCARD_HOSTS.get(host, host)
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def with_base_url(settings: Settings, host: str, port: int) -> Settings:
    """``settings`` whose base URL (used in links of e-mails, feeds and the API's
    ``public_url``) is where this server listens, unless ``CLARION_BASE_URL`` is set."""
    if "base_url" in settings.model_fields_set:
        return settings
    base_url = derived_base_url(host, port)
    if host in WILDCARD_HOSTS:
        click.echo(
            f"warning: CLARION_BASE_URL is not set: links in e-mails and feeds point at "
            f"{base_url}; set it to the URL readers use",
            err=True,
        )
    return settings.model_copy(update={"base_url": base_url})
