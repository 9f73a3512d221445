"""Which failures mean "the database is unavailable now" (an outage, a held lock, a timeout, a
full disk, a read-only or vanished database), as opposed to a bug: those become the 503
envelope (``http/envelope.py``), and the public site answers them from its last renders.

The envelope's message names the kind of failure, never the driver's text (which can hold a
host, a user name or a statement); the log line has the driver's error class and message."""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import exc as sa_exc

from clarion.db.inline_sqlite import WriterTurnTimeout
from clarion.errors import ServiceUnavailable

log = logging.getLogger("clarion.db")

#: PostgreSQL's SQLSTATEs of a statement that was cancelled by a timeout, waited too long for a
#: lock, or found the database read-only or out of space.
_BUSY_STATES = frozenset({"57014", "55P03", "40P01"})
_READ_ONLY_STATES = frozenset({"25006"})
_FULL_STATES = frozenset({"53100", "53200", "53300"})


def _sqlstate(error: BaseException | None) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def unavailable(error: BaseException) -> ServiceUnavailable | None:
    """The 503 error for ``error`` when it says the database is unavailable, else None."""
    if isinstance(error, ServiceUnavailable):
        return error
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
        return ServiceUnavailable("database_busy", "The database is busy; try again shortly")
    orig = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    state = _sqlstate(orig)
    if state in _BUSY_STATES:
        return ServiceUnavailable("database_busy", "The database is busy; try again shortly")
    if state in _READ_ONLY_STATES:
        return ServiceUnavailable("database_read_only", "The database accepts no writes now")
    if state in _FULL_STATES:
        return ServiceUnavailable("database_full", "The database is out of space")
    if isinstance(orig, WriterTurnTimeout):
        return ServiceUnavailable("database_busy", "The database is busy; try again shortly")
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        if "readonly" in text or "read-only" in text:  # e.g. "attempt to write a readonly …"
            return ServiceUnavailable("database_read_only", "The database accepts no writes now")
        if "full" in text or "no space" in text:
            return ServiceUnavailable("database_full", "The database is out of space")
        if "locked" in text or "busy" in text:
            return ServiceUnavailable("database_busy", "The database is busy; try again shortly")
        return ServiceUnavailable("database_unavailable", "The database is unavailable")
    if isinstance(error, sa_exc.OperationalError) or (
        isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated
    ):
        return ServiceUnavailable("database_unavailable", "The database is unavailable")
    return None


def log_unavailable(error: BaseException, request_id: str) -> None:
    """One warning line for a request the database failed (without the statement)."""
    orig = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    log.warning(
        "database unavailable request_id=%s: %s: %s", request_id, type(orig).__name__, first_line
    )
