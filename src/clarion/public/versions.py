"""Which page a public request names, and its current ``content_version``, memoised briefly.

Every public request needs the page's id and version (the render cache key). Reading them is
one indexed query, but during a spike that query is most of the work of serving cached bytes,
so the answer is kept for ``ttl`` seconds (``CLARION_PUBLIC_VERSION_TTL_SECONDS``):

- Writes made by this process are seen at once: an answer is valid only while
  ``Database.page_changes`` (the committed transactions of this process that changed a page)
  has not moved since the lookup began, so a read racing a commit can never be kept as fresh.
- Writes made by other processes (other replicas, ``clarion worker``, ``clarion apply``) are
  seen within ``ttl`` seconds. ``ttl = 0`` turns the memo off (one query per request).

When the database does not answer (``lookup_or_last``): a lookup that fails, or takes longer
than ``deadline`` seconds, is answered with the last answer this process had for the same key,
marked stale; while lookups of a key keep failing, the next ones do not wait: they get the
last answer at once, and one query at a time (at most one a second) checks whether the
database is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from clarion.db.engine import Database

log = logging.getLogger("clarion.public")


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


#: While a key's lookups fail, how often one of them tries the database again.
RETRY_SECONDS = 1.0


class VersionMemo:
    """Page lookups by ``(slug, host)``, valid for ``ttl`` seconds or until a local write."""

    def __init__(
        self, ttl: float, db: Database, max_entries: int = 4096, deadline: float = 2.0
    ) -> None:
        self.ttl = ttl
        self.db = db
        self.max_entries = max_entries
        self.deadline = deadline
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._loading: dict[tuple[str, str], tuple[int, asyncio.Task[tuple[PageRef, ...]]]] = {}
        #: The last answer of each key's lookup that succeeded, kept while the database fails.
        self._last: dict[tuple[str, str], tuple[PageRef, ...]] = {}
        #: Keys whose last lookup failed, and when one may try again.
        self._failing: dict[tuple[str, str], float] = {}

    async def lookup_or_last(
        self, key: tuple[str, str], load: Callable[[], Awaitable[list[PageRef]]]
    ) -> tuple[tuple[PageRef, ...], bool]:
        """``lookup``, or when the database fails or is slower than ``deadline``, the last
        answer known for ``key`` (the database's error when there is none); and whether the
        answer is that last one (stale)."""
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.generation == self.db.page_changes
            and entry.expires > time.monotonic()
        ):
            return entry.refs, False
        last = self._last.get(key)
        if last is None:
            return await self.lookup(key, load), False
        retry_at = self._failing.get(key)
        if retry_at is not None:
            # Failing: answer at once; one lookup at a time (and one a second) looks again.
            if key not in self._loading and time.monotonic() >= retry_at:
                self._start(key, self.db.page_changes, load)
            return last, True
        try:
            async with asyncio.timeout(self.deadline):
                return await self.lookup(key, load), False
        except Exception:
            self._failing.setdefault(key, time.monotonic() + RETRY_SECONDS)
            return last, True

    async def lookup(
        self, key: tuple[str, str], load: Callable[[], Awaitable[list[PageRef]]]
    ) -> tuple[PageRef, ...]:
        if self.ttl <= 0:
            refs = tuple(await load())
            self._remember(key, refs)
            return refs
        generation = self.db.page_changes
        entry = self._entries.get(key)
        valid = entry is not None and entry.generation == generation
        if valid and entry.expires > time.monotonic():  # type: ignore[union-attr]
            return entry.refs  # type: ignore[union-attr]
        # One query per key at a time: when an entry expires under load, the requests that
        # arrive meanwhile wait for that query instead of each sending their own.
        pending = self._loading.get(key)
        if pending is None or pending[0] != generation:
            pending = self._start(key, generation, load)
        return await asyncio.shield(pending[1])

    def _start(
        self, key: tuple[str, str], generation: int, load: Callable[[], Awaitable[list[PageRef]]]
    ) -> tuple[int, asyncio.Task[tuple[PageRef, ...]]]:
        task = asyncio.ensure_future(self._load(key, generation, load))
        task.add_done_callback(_retrieve)
        pending = (generation, task)
        self._loading[key] = pending
        return pending

    def _remember(self, key: tuple[str, str], refs: tuple[PageRef, ...]) -> None:
        self._failing.pop(key, None)
        if len(self._last) >= self.max_entries and key not in self._last:
            self._last.clear()
        self._last[key] = refs

    async def _load(
        self,
        key: tuple[str, str],
        generation: int,
        load: Callable[[], Awaitable[list[PageRef]]],
    ) -> tuple[PageRef, ...]:
        try:
            refs = tuple(await load())
        except Exception as error:
            if key not in self._failing and key in self._last:
                log.warning(
                    "the database did not answer (%s): public pages are served from their "
                    "last renders until it does",
                    type(error).__name__,
                )
            self._failing[key] = time.monotonic() + RETRY_SECONDS
            raise
        finally:
            if self._loading.get(key, (None,))[0] == generation:
                del self._loading[key]
        self._remember(key, refs)
        if generation == self.db.page_changes:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = _Entry(refs, generation, time.monotonic() + self.ttl)
        return refs


def _retrieve(task: asyncio.Task[tuple[PageRef, ...]]) -> None:
    """Take a lookup's exception, so that one nobody waited for (a check made in the
    background while the database fails) is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()
