"""Serialised API list pages, kept per status page ``content_version``.

Every write that changes what a status page shows moves its ``content_version`` when it commits
(``status_pages.versions``); the public site's render cache relies on the same rule. A list of a
page's incidents is a function of that content and of the request's parameters, so its bytes
can be kept until the version moves. In one read transaction:

- the page's current version is read first (an index lookup);
- a hit answers with the stored bytes, with no other query and no serialisation;
- a miss builds the list after that read, so the bytes it stores are never older than the
  version they are stored under (on PostgreSQL, where each statement sees the latest commit,
  they may be newer, which only costs a later miss).

The version is read from the database on every request, so a write made through another
replica or process shows on the very next request here: nothing is cached across a version.
Entries are evicted least recently used, beyond a count and a budget of bytes
(``CLARION_API_LIST_CACHE_MB``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from clarion.http.json import JSONResponse
from clarion.lru import MIB, ByteLRU
from clarion.status_pages.models import StatusPage

if TYPE_CHECKING:
    from clarion.db.engine import Database

#: Built once (statement construction costs more than the indexed lookup itself).
_VERSION = select(StatusPage.content_version).where(StatusPage.id == bindparam("page_id"))


#: What an entry costs besides its body (its key, version and bookkeeping).
ENTRY_OVERHEAD_BYTES = 512


class ListCache:
    """Bytes per (key, content_version), least recently used first out: at most
    ``max_entries`` entries holding at most ``max_bytes`` (0 of either turns it off)."""

    def __init__(self, max_entries: int, max_bytes: int = 16 * MIB) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: ByteLRU[Hashable, tuple[int, bytes]] = ByteLRU(
            max_bytes, _entry_size, max_entries=max(max_entries, 0)
        )

    @property
    def held_bytes(self) -> int:
        """The sizes of the entries held, summed."""
        return self._entries.held_bytes

    def get(self, key: Hashable, version: int) -> bytes | None:
        found = self._entries.get(key)
        if found is None or found[0] != version:
            return None
        return found[1]

    def put(self, key: Hashable, version: int, body: bytes) -> None:
        self._entries.put(key, (version, body))

    def items(self) -> list[tuple[Hashable, tuple[int, bytes]]]:
        """Every entry: its key, and the version and bytes stored under it."""
        return self._entries.items()

    def __len__(self) -> int:
        return len(self._entries)


def _entry_size(_key: Hashable, entry: tuple[int, bytes]) -> int:
    return len(entry[1]) + ENTRY_OVERHEAD_BYTES


async def cached_page_list(
    db: Database,
    cache: ListCache,
    page_id: str,
    key: Hashable,
    build: Callable[[AsyncSession], Awaitable[Any]],
) -> Response:
    """The JSON list response for ``key`` on page ``page_id``: stored bytes when the page's
    ``content_version`` has not moved, else ``build(session)`` rendered and stored. An unknown
    page is never stored: ``build`` answers it (usually an error)."""
    async with db.read() as session:
        version = await session.scalar(_VERSION, {"page_id": page_id})
        if version is not None:
            body = cache.get(key, version)
            if body is not None:
                return Response(body, media_type=JSONResponse.media_type)
        content = await build(session)
    response = JSONResponse(content)
    if version is not None:
        cache.put(key, version, bytes(response.body))
    return response
