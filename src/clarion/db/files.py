"""The SQLite database file: created private, watched while open, and never silently replaced.

- Clarion creates a new database file itself, readable and writable by its owner only (0600);
  SQLite gives the ``-wal`` and ``-shm`` files the database file's permissions.
- A marker file beside the database (``<database>-marker``) records that a database was
  there. When the database file is gone but its marker is not, Clarion refuses to create a
  new, empty database in its place (``VanishedDatabase``): the file was deleted or moved, and
  starting afresh would hide that every status page, incident and key was lost. Restoring a
  backup (``clarion restore``) or asking for a new database (``clarion serve
  --new-database``) is the way on.
- While Clarion runs, ``DatabaseFile.problem`` says whether the file at the path is still
  the one it opened (same device and inode).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

MARKER_SUFFIX = "-marker"
MARKER_TEXT = """\
This file records that Clarion keeps a SQLite database beside it ({name}).
While it is here, Clarion refuses to start on a new, empty database when that file is
missing: restore a backup with `clarion restore FILE`, or start afresh on purpose with
`clarion serve --new-database`. Delete it together with the database, never alone.
"""


class VanishedDatabase(Exception):
    """The database file is missing although a database was there before."""


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite database URL (None: PostgreSQL, or SQLite in memory)."""
    if not url.startswith("sqlite"):
        return None
    path = make_url(url).database
    return path if path and path != ":memory:" else None


def marker_path(path: str) -> Path:
    return Path(path + MARKER_SUFFIX)


def prepare(path: str, *, allow_new: bool = False, make_folder: bool = True) -> bool:
    """Make sure the database file exists before anything opens it: created empty with mode
    0600 when missing, unless a marker says a database was here (``VanishedDatabase``; pass
    ``allow_new`` to create one anyway), or its folder is missing and not ``make_folder``.
    Returns whether a new file was created."""
    file = Path(path)
    if file.exists() or (not make_folder and not file.parent.is_dir()):
        return False
    if marker_path(path).exists() and not allow_new:
        raise VanishedDatabase(
            f"the database file {path} is missing, but a database was there before "
            f"({marker_path(path).name} says so): it was deleted or moved. Put it back, "
            "restore a backup with `clarion restore FILE`, or start with a new, empty "
            "database with `clarion serve --new-database` (or delete "
            f"{marker_path(path).name} if you deleted the database on purpose)"
        )
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another process made it meanwhile
        return False
    return True


def mark(path: str) -> None:
    """Leave the marker beside the database (once it holds Clarion's schema)."""
    marker = marker_path(path)
    if not marker.exists():
        marker.write_text(MARKER_TEXT.format(name=Path(path).name))
        marker.chmod(0o600)


class DatabaseFile:
    """The database file Clarion opened: its device and inode, taken when first seen."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.identity: tuple[int, int] | None = None
        self.problem()

    def problem(self) -> str | None:
        """None while the file at the path is the one opened; else what happened to it."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            if self.identity is None:
                return None  # not created yet: nothing was opened
            return "The database file was deleted or moved since Clarion opened it"
        except OSError:
            return "The database file cannot be examined"
        identity = (found.st_dev, found.st_ino)
        if self.identity is None:
            self.identity = identity
        elif identity != self.identity:
            return "The database file was replaced since Clarion opened it"
        return None
