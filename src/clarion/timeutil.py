"""RFC 3339 timestamps on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

#: The moments an incident, an update or a maintenance window may be set at: from the Unix
#: epoch to the end of 2099 (UTC). Outside it no status page has anything to say, and a
#: history running from year 1 would have thousands of months to list and export.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class OutOfRange(ValueError):
    """A timestamp whose moment in UTC falls outside years 1..9999 (what ``datetime`` holds)."""


def to_utc(moment: datetime) -> datetime:
    """Make ``moment`` timezone-aware UTC; a naive value is taken to be UTC already.

    Raises ``OutOfRange`` (a ``ValueError``) when the moment in UTC falls outside years
    1..9999, as ``9999-12-31T23:59:59-05:00`` does.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise OutOfRange("the moment in UTC is outside years 1..9999") from None


def format_ts(moment: datetime, timespec: str = "microseconds") -> str:
    """``2021-08-17T13:28:57.801578Z``: UTC, ``Z``, always a four-digit year (``0001-…``, which
    ``strftime`` writes as ``1-…``); ``timespec="seconds"`` leaves the fraction out."""
    return to_utc(moment).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp. No offset means UTC (the SDK sends naive values).

    Raises ``ValueError`` on anything else: ``OutOfRange`` for a moment outside years 1..9999
    in UTC.
    """
    value = text.strip()
    if not value or len(value) > 64:
        raise ValueError("not a timestamp")
    if value[-1] in "zZ":
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if "T" not in value and " " not in value:
        raise ValueError("a timestamp needs a time of day")
    return to_utc(parsed)
