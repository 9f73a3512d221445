"""``clarion apply [--dry-run] FILE``."""

from __future__ import annotations

from pathlib import Path

import click


class _RolledBack(Exception):
    """Ends a dry run's transaction (rolling it back) and carries what it would have done."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__("dry run")
        self.changes = changes


@click.command("apply")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would change, and change nothing.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def command(file: Path, dry_run: bool) -> None:
    """Declare components, status pages and their structure from a YAML FILE.

    The whole file is checked first: every problem is reported, with its line, and nothing
    is written unless there are none. Idempotent: a second apply changes nothing; renaming
    keeps ids. Prints what changed. A page entry without items keeps its structure; with
    items, those are its whole structure. The file format: docs/apply.md.
    """
    from sqlalchemy.exc import IntegrityError

    from clarion.audit import Actor
    from clarion.cli.common import load_settings, run_with_context
    from clarion.context import AppContext
    from clarion.status_pages.declaration import DeclarationError, read_declaration
    from clarion.status_pages.declare import apply_declaration

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file}: not UTF-8 text ({exc.reason})") from exc
    try:
        declaration = read_declaration(text, str(file))
    except DeclarationError as exc:
        raise click.ClickException(str(exc)) from exc

    async def body(ctx: AppContext) -> list[str]:
        # The real apply, in a transaction that a dry run rolls back: its plan is exactly what
        # apply does.
        try:
            async with ctx.db.write() as session:
                changes = await apply_declaration(
                    session, declaration, ctx.clock.now(), actor=Actor.cli()
                )
                if dry_run:
                    raise _RolledBack(changes)
        except _RolledBack as done:
            return done.changes
        return changes

    try:
        changes = run_with_context(load_settings(), body)
    except IntegrityError as exc:
        # e.g. a custom_domain that another page, not in this file, already uses.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a uniqueness rule"
        raise click.ClickException(
            f"{file}: conflicts with what is stored ({reason}); nothing was changed"
        ) from exc
    for line in changes:
        click.echo(line)
    if not changes:
        click.echo("no changes")
    if dry_run:
        click.echo("dry run: nothing was changed", err=True)
