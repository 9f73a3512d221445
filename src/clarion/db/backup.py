"""``clarion backup`` and ``clarion restore``: online, consistent copies of the database.

- SQLite: SQLite's backup API copies every page inside one read transaction, so the copy is
  the database as one moment saw it, including what is still in the write-ahead log (copying
  the ``.db`` file alone misses that), while writers go on. The copy is a single file with
  no ``-wal`` beside it, written under a temporary name and renamed into place (a backup
  that fails leaves nothing that looks like one), mode 0600.
- PostgreSQL: ``pg_dump`` (one snapshot; custom format); ``pg_restore`` (through ``psql``, in
  one transaction) brings it back. Both are PostgreSQL's client programs, which must be
  installed; the password reaches them in their environment, never on a command line.

A restore refuses to overwrite a database that holds anything unless forced, and brings the
restored database to the current schema afterwards.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from clarion.db import files

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
#: Tables whose rows do not make a database worth keeping (written by any running Clarion).
NOT_CONTENT = frozenset({"alembic_version", "heartbeats"})
CLIENT_HINT = (
    "PostgreSQL's client programs are needed (Debian: apt install postgresql-client, of the "
    "server's major version or newer)"
)


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, for the operator."""


def _sqlite_connect(path: str, *, read_only: bool = False) -> sqlite3.Connection:
    mode = "ro" if read_only else "rw"
    connection = sqlite3.connect(f"file:{quote(path)}?mode={mode}", uri=True, timeout=30)
    connection.isolation_level = None
    return connection


def _private_temporary(target: Path) -> Path:
    """A new, empty file beside ``target`` (mode 0600) to write the backup into."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    temporary.unlink(missing_ok=True)
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return temporary


def _put_in_place(temporary: Path, target: Path) -> None:
    """Make ``temporary`` durable and rename it to ``target``."""
    descriptor = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, target)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def backup(url: str, target: Path, *, overwrite: bool = False) -> str:
    """Write a consistent backup of the database at ``url`` to ``target``; a one-line summary."""
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise BackupError(f"no folder {target.parent} to write the backup into")
    temporary = _private_temporary(target)
    try:
        path = files.sqlite_path(url)
        if path is not None:
            if not Path(path).is_file():
                raise BackupError(f"there is no database at {path}")
            _sqlite_backup(path, temporary)
        elif url.startswith("sqlite"):
            raise BackupError("a database in memory cannot be backed up")
        else:
            _run([_client("pg_dump"), "--format=custom", "--no-owner", f"--file={temporary}"], url)
        _put_in_place(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return f"backed up the database to {target} ({target.stat().st_size} bytes)"


def _sqlite_backup(path: str, temporary: Path) -> None:
    source = _sqlite_connect(path)
    try:
        copy = sqlite3.connect(temporary)
        try:
            source.backup(copy)  # every page in one step: one read transaction, one moment
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            copy.close()
    finally:
        source.close()


def restore(url: str, source: Path, *, force: bool = False) -> str:
    """Replace the database at ``url`` with the backup ``source`` (refused when the database
    holds anything, unless ``force``), then bring it to the current schema."""
    from clarion.db.migrate import upgrade

    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    with source.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    path = files.sqlite_path(url)
    if path is not None:
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{source} is not a backup of a SQLite database")
        files.prepare(path, allow_new=True)
        _refuse_unless_empty(url, force)
        _sqlite_restore(source, path)
    elif url.startswith("sqlite"):
        raise BackupError("a database in memory cannot be restored into")
    else:
        if not head.startswith(PG_CUSTOM_MAGIC):
            raise BackupError(f"{source} is not a backup of a PostgreSQL database (pg_dump -Fc)")
        _refuse_unless_empty(url, force)
        _pg_restore(url, source)
    upgrade(url, allow_new=True)
    return f"restored the database from {source}; restart Clarion's processes to serve it"


def _refuse_unless_empty(url: str, force: bool) -> None:
    if force:
        return
    holding = _tables_with_rows(url)
    if holding:
        raise BackupError(
            "the database is not empty (it has rows in "
            f"{', '.join(holding[:5])}{', …' if len(holding) > 5 else ''}); "
            "pass --force to replace everything in it with the backup"
        )


def _tables_with_rows(url: str) -> list[str]:
    from sqlalchemy import table

    from clarion.db.engine import make_sync_engine

    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            found = []
            for name in sorted(set(inspect(connection).get_table_names()) - NOT_CONTENT):
                count = connection.execute(select(func.count()).select_from(table(name)))
                if count.scalar_one():
                    found.append(name)
            return found
    finally:
        engine.dispose()


def _sqlite_restore(source: Path, path: str) -> None:
    """Copy the backup's pages into the database file through SQLite (its locks, its WAL),
    so that a process holding the file open sees one consistent database, old or new."""
    backup_file = _sqlite_connect(str(source), read_only=True)
    try:
        database = _sqlite_connect(path)
        try:
            database.execute("PRAGMA busy_timeout=30000")
            backup_file.backup(database)
        finally:
            database.close()
    finally:
        backup_file.close()


def _pg_restore(url: str, source: Path) -> None:
    """Everything in the database's schema is dropped and the backup recreated, in one
    transaction (``psql --single-transaction``): a failure leaves the database as it was."""
    tables = _pg_tables(url)
    prelude = "".join(f'DROP TABLE IF EXISTS "{name}" CASCADE;\n' for name in tables)
    script = subprocess.run(  # noqa: S603 (PostgreSQL's own program; our arguments)
        [
            _client("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--file=-",
            str(source),
        ],
        capture_output=True,
        check=False,
    )
    if script.returncode != 0:
        raise BackupError(f"pg_restore failed: {_first_lines(script.stderr)}")
    _run(
        [
            _client("psql"),
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            "--file=-",
        ],
        url,
        stdin=prelude.encode() + script.stdout,
    )


def _pg_tables(url: str) -> list[str]:
    from clarion.db.engine import make_sync_engine

    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _client(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BackupError(f"{program} is not installed: {CLIENT_HINT}")
    return found


def _libpq_environment(url: str) -> dict[str, str]:
    """The connection of ``url`` as libpq's environment variables (the password included: in
    the environment, unlike the command line, other users cannot read it)."""
    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    pairs = {
        "PGHOST": parsed.host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password,
        "PGDATABASE": parsed.database,
        "PGSSLMODE": parsed.query.get("sslmode"),
    }
    env.update({name: str(value) for name, value in pairs.items() if value})
    return env


def _run(command: list[str], url: str, stdin: bytes | None = None) -> None:
    done = subprocess.run(  # noqa: S603 (PostgreSQL's own program; our arguments)
        command, input=stdin, capture_output=True, env=_libpq_environment(url), check=False
    )
    if done.returncode != 0:
        program = Path(command[0]).name
        raise BackupError(f"{program} failed: {_first_lines(done.stderr)}")


def _first_lines(stderr: bytes, count: int = 3) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return " / ".join(lines[:count]) or "no message"
