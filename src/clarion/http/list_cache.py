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
Entries are evicted least recently used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from clarion.http.json import JSONResponse
from clarion.status_pages.models import StatusPage

if TYPE_CHECKING:
    from clarion.db.engine import Database

#: Built once (statement construction costs more than the indexed lookup itself).
_VERSION = select(StatusPage.content_version).where(StatusPage.id == bindparam("page_id"))


class ListCache:
    """Bytes per (key, content_version), least recently used first out."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()

    def get(self, key: Hashable, version: int) -> bytes | None:
        found = self._entries.get(key)
        if found is None or found[0] != version:
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, version: int, body: bytes) -> None:
        if self.max_entries <= 0:
            return
        self._entries[key] = (version, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


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
