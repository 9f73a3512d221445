"""Helpers shared by the subcommands."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from pydantic import ValidationError

from clarion.context import AppContext
from clarion.db.migrate import upgrade
from clarion.settings import Settings

T = TypeVar("T")


def load_settings() -> Settings:
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
    try:
        upgrade(settings.database_url, allow_new=new_database)
    except Exception as exc:
        raise click.ClickException(f"cannot prepare the database: {exc}") from exc


def run_with_context(settings: Settings, body: Callable[[AppContext], Awaitable[T]]) -> T:
    """Migrate, then run ``body`` with a fresh context, closing it afterwards."""
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
