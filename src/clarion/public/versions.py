"""Which page a public request names, and its current ``content_version``, memoised briefly.

Every public request needs the page's id and version (the render cache key). Reading them is
one indexed query, but during a spike that query is most of the work of serving cached bytes,
so the answer is kept for ``ttl`` seconds (``CLARION_PUBLIC_VERSION_TTL_SECONDS``):

- Writes made by this process are seen at once: any statement that writes ``status_pages``
  (every content-version bump does) marks its connection, and when that connection goes back
  to the pool (after its commit) the memo's generation moves on, so every memoised answer from
  before is ignored. A lookup records the generation it started in, so a read racing a commit
  can never store a stale answer as fresh.
- Writes made by other processes (other replicas, ``clarion worker``, ``clarion apply``) are
  seen within ``ttl`` seconds. ``ttl = 0`` turns the memo off (one query per request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.db import lean

_WRITES = (
    "update status_pages",
    "insert into status_pages",
    "delete from status_pages",
    # How writes bump a page's content version (a trigger applies it; migration 0005).
    "insert into pending_page_bumps",
)
_WRITES_PREFIX = max(map(len, _WRITES))
_FLAG = "clarion_status_pages_written"


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

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.generation = 0
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._loading: dict[tuple[str, str], tuple[int, asyncio.Task[tuple[PageRef, ...]]]] = {}

    def watch(self, engine: AsyncEngine) -> None:
        """Move the generation on after every transaction on ``engine`` that wrote pages."""

        def note_write(info: dict[Any, Any], statement: str) -> None:
            if statement.lstrip()[:_WRITES_PREFIX].lower().startswith(_WRITES):
                info[_FLAG] = True

        def after_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            note_write(conn.info, statement)

        def release(info: dict[Any, Any]) -> None:
            if info.pop(_FLAG, False):
                self.invalidate()

        def checkin(_dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                release(record.info)

        event.listen(engine.sync_engine, "after_cursor_execute", after_execute)
        event.listen(engine.sync_engine, "checkin", checkin)
        lean.after_execute(engine.sync_engine, note_write)
        lean.on_release(engine.sync_engine, release)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()

    def fresh(self, key: tuple[str, str]) -> tuple[PageRef, ...] | None:
        """The memoised answer for ``key`` while it is valid, else None (no query). The same
        tuple object is returned for as long as one answer is valid, so callers may compare
        answers by identity."""
        entry = self._entries.get(key)
        valid = entry is not None and entry.generation == self.generation
        return entry.refs if valid and entry.expires > time.monotonic() else None  # type: ignore[union-attr]

    async def lookup(
        self, key: tuple[str, str], load: Callable[[], Awaitable[list[PageRef]]]
    ) -> tuple[PageRef, ...]:
        if self.ttl <= 0:
            return tuple(await load())
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.generation == self.generation and entry.expires > now:
            return entry.refs
        # One query per key at a time: when an entry expires under load, the requests that
        # arrive meanwhile wait for that query instead of each sending their own.
        generation = self.generation
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
        if generation == self.generation:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = _Entry(refs, generation, time.monotonic() + self.ttl)
        return refs
