"""``clarion backup FILE`` and ``clarion restore FILE`` (see ``clarion.db.backup``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def backup_command(file: Path, force: bool) -> None:
    """Write a consistent backup of the database to FILE while Clarion keeps running.

    SQLite: a copy of the database as one moment saw it (SQLite's backup API), one file.
    PostgreSQL: pg_dump's custom format (pg_dump must be installed)."""
    from clarion.cli.common import load_settings
    from clarion.db.backup import BackupError, backup

    try:
        click.echo(backup(load_settings().database_url, file, overwrite=force))
    except BackupError as error:
        raise click.ClickException(str(error)) from None


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
def restore_command(file: Path, force: bool) -> None:
    """Replace the database with the backup FILE, then bring it to the current schema.

    Refuses to overwrite a database that holds anything unless --force. Stop Clarion's
    processes first, and start them again afterwards."""
    from clarion.cli.common import load_settings
    from clarion.db.backup import BackupError, restore

    try:
        click.echo(restore(load_settings().database_url, file, force=force))
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:  # the migration after the restore
        raise click.ClickException(f"cannot prepare the restored database: {error}") from None
