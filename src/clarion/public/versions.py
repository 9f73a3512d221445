"""Which page a public request names, and its current ``content_version``, memoised briefly.

Every public request needs the page's id and version (the render cache key). Reading them is
one indexed query, but during a spike that query is most of the work of serving cached bytes,
so the answer is kept for ``ttl`` seconds (``CLARION_PUBLIC_VERSION_TTL_SECONDS``):

- Writes made by this process are seen at once: an answer is valid only while
  ``Database.page_changes`` (the committed transactions of this process that changed a page)
  has not moved since the lookup began, so a read racing a commit can never be kept as fresh.
- Writes made by other processes (other replicas, ``clarion worker``, ``clarion apply``) are
  seen within ``ttl`` seconds. ``ttl = 0`` turns the memo off (one query per request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from clarion.db.engine import Database


@dataclass(frozen=True)
class PageRef:
    id: str
    slug: str
    version: int
    custom_domain: str | None


@dataclass(frozen=True)
class _Entry:
    refs: tuple[PageRef, ...]
    generation: int
    expires: float


class VersionMemo:
    """Page lookups by ``(slug, host)``, valid for ``ttl`` seconds or until a local write."""

    def __init__(self, ttl: float, db: Database, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.db = db
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._loading: dict[tuple[str, str], tuple[int, asyncio.Task[tuple[PageRef, ...]]]] = {}

    async def lookup(
        self, key: tuple[str, str], load: Callable[[], Awaitable[list[PageRef]]]
    ) -> tuple[PageRef, ...]:
        if self.ttl <= 0:
            return tuple(await load())
        generation = self.db.page_changes
        entry = self._entries.get(key)
        valid = entry is not None and entry.generation == generation
        if valid and entry.expires > time.monotonic():  # type: ignore[union-attr]
            return entry.refs  # type: ignore[union-attr]
        # One query per key at a time: when an entry expires under load, the requests that
        # arrive meanwhile wait for that query instead of each sending their own.
        pending = self._loading.get(key)
        if pending is None or pending[0] != generation:
            pending = (generation, asyncio.ensure_future(self._load(key, generation, load)))
            self._loading[key] = pending
        return await asyncio.shield(pending[1])

    async def _load(
        self,
        key: tuple[str, str],
        generation: int,
        load: Callable[[], Awaitable[list[PageRef]]],
    ) -> tuple[PageRef, ...]:
        try:
            refs = tuple(await load())
        finally:
            if self._loading.get(key, (None,))[0] == generation:
                del self._loading[key]
        if generation == self.db.page_changes:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = _Entry(refs, generation, time.monotonic() + self.ttl)
        return refs
