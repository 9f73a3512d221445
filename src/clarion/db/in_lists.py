"""``IN`` lists in a few lengths only.

SQLAlchemy writes ``column IN (?, ?, …)`` with one placeholder per value, so each length is a
statement of its own, and the prepared statements are kept: SQLite keeps up to 128 per
connection, psycopg has PostgreSQL prepare the ones it runs often. A statement holds about
200 bytes per placeholder. Where a list's length follows the data (the incidents a page
shows, the causes in its uptime window), nearly every write would bring a new, longer
statement, and those caches would grow with the data. Padded to the next power of two (a
repeated value matches nothing more), a list takes one of a dozen lengths.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def padded(values: Iterable[T]) -> list[T]:
    """``values`` as a list whose length is a power of two, its last value repeated to fill
    it (an empty list stays empty)."""
    items = list(values)
    if len(items) < 2:
        return items
    size = 1 << (len(items) - 1).bit_length()
    return items + [items[-1]] * (size - len(items))
