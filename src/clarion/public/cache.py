"""The render cache of the public site, and the registry of public resources.

Every public response is rendered from a ``PageSnapshot`` and cached under
``CacheKey(page_id, version, path, extra)``, where ``version`` is the page's
``content_version``. Every write that changes what a page shows bumps that version in the same
transaction, so the next request reads a new version, misses, and renders the new content:
there is nothing to invalidate, and replicas agree because the version lives in the database.

- ``RenderCache.get_or_render`` renders a key at most once at a time: concurrent misses for
  the same key wait for the one render in flight (a per-key task), so a traffic spike right
  after a write renders the page once, not once per request.
- ETags are derived from the key (not the bytes), so ``If-None-Match`` can be answered with
  304 before anything is rendered or even looked up.
- Older versions of a page are dropped when a newer one is stored; the rest is an LRU bounded
  by the bytes it holds (``CLARION_PUBLIC_CACHE_MB``) as well as by entries.
- The newest value of each page's path is also kept as its *last good render*
  (``last_good``), with when it was rendered (``rendered_at``): when the database is
  unavailable, the site answers with it (see ``routes``).

Other public endpoints (Statuspage JSON, feeds, badge) are served through the same machinery by
registering a ``PublicResource``: a path relative to the page's public URL, a content type and a
pure ``render(snapshot, context) -> bytes``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clarion.lru import MIB, ByteLRU, bytes_memo

if TYPE_CHECKING:
    from clarion.public.snapshot import PageSnapshot
    from clarion.settings import Settings

_HERE = Path(__file__).parent
GZIP_MIN_BYTES = 1024
_COMPRESSIBLE = ("text/", "application/json", "application/atom", "application/rss",
                 "application/xml", "image/svg")  # fmt: skip


@lru_cache(maxsize=1)
def render_revision() -> str:
    """Part of every ETag, so that a new release (templates, assets, code) is never answered
    with 304 for bytes an older release rendered: the package version plus a digest of the
    public templates and assets."""
    try:
        release = version("clarion")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        release = "dev"
    digest = hashlib.blake2b(release.encode(), digest_size=8)
    for folder in ("templates", "static"):
        for item in sorted((_HERE / folder).rglob("*")):
            if item.is_file():
                digest.update(item.name.encode())
                digest.update(item.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    page_id: str
    version: int
    path: str
    #: What else the bytes depend on, e.g. the UTC day for uptime bars ("" if nothing).
    extra: str = ""

    @property
    def etag(self) -> str:
        """A strong ETag for the identity-encoded body (quoted)."""
        return _etag_of(self)


@bytes_memo(2 * MIB)  # by bytes: a key's path is whatever a request asked for
def _etag_of(key: CacheKey) -> str:
    raw = f"{render_revision()}|{key.page_id}|{key.version}|{key.path}|{key.extra}"
    return '"' + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest() + '"'


@dataclass(frozen=True)
class Rendered:
    """Bytes ready to send. The gzip variant (``gzipped``) is made on first use, once per
    cached value, so an uncached render that nobody asks compressed never pays for it."""

    body: bytes
    content_type: str
    etag: str
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    #: What is derived from the bytes once (encoded variants, wire headers), by name.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        body: bytes,
        content_type: str,
        etag: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Rendered:
        return cls(body, content_type, etag, status, dict(headers or {}))

    @property
    def gzipped(self) -> bytes | None:
        """The gzip-encoded body, for compressible bodies worth compressing (else None)."""
        if "gzip" not in self.memo:
            gz = None
            if len(self.body) >= GZIP_MIN_BYTES and self.content_type.startswith(_COMPRESSIBLE):
                gz = gzip.compress(self.body, compresslevel=6, mtime=0)
            self.memo["gzip"] = gz
        found: bytes | None = self.memo["gzip"]
        return found


def gzip_etag(etag: str) -> str:
    """The ETag of the gzip-encoded variant (a different representation, so a different tag)."""
    return etag[:-1] + '-gz"'


def held_etag(if_none_match: str, etag: str) -> str:
    """The tag of the representation a client holds, for a 304 that matched ``etag``: the
    gzip variant's when the client sent that one, else ``etag``."""
    held = gzip_etag(etag)
    return held if held in if_none_match else etag


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` against ``etag`` or its gzip variant."""
    if not if_none_match:
        return False
    candidates = {etag, gzip_etag(etag)}
    for part in if_none_match.split(","):
        tag = part.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag in candidates:
            return True
    return False


#: ``Rendered.memo`` key: when the value was rendered (UTC).
RENDERED_AT = "rendered_at"


def rendered_at(rendered: Rendered) -> datetime | None:
    """When ``rendered`` was rendered (None for what was not rendered from a page)."""
    found: datetime | None = rendered.memo.get(RENDERED_AT)
    return found


#: What a cached value costs besides its body: its identity and gzip variants are counted as
#: two bodies (gzip is smaller), plus this for its headers and bookkeeping.
RENDERED_OVERHEAD_BYTES = 1024


def rendered_size(rendered: Rendered) -> int:
    """About how many bytes ``rendered`` holds once it has been sent both ways."""
    return 2 * len(rendered.body) + RENDERED_OVERHEAD_BYTES


class RenderCache:
    """LRU of ``Rendered`` values bounded by bytes (and entries), with single-flight
    rendering per key.

    The values hold at most ``max_bytes`` (each counted by ``rendered_size``); the last good
    renders (``last_good``) at most a quarter of that again, since they may be values the
    cache no longer holds (an older version, another day).
    """

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 * MIB) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: ByteLRU[CacheKey, Rendered] = ByteLRU(
            max_bytes, _entry_size, max_entries=max_entries
        )
        self._inflight: dict[CacheKey, asyncio.Task[Rendered]] = {}
        self._latest: dict[str, int] = {}
        #: The newest value stored for each ``(page_id, path)``, whatever its version or day.
        self._last_good: ByteLRU[tuple[str, str], tuple[CacheKey, Rendered]] = ByteLRU(
            max_bytes // 4, _last_good_size, max_entries=max_entries
        )
        #: How many renders ran (tests and metrics).
        self.renders = 0

    @property
    def held_bytes(self) -> int:
        """The sizes of the values held, summed (the last good renders not included)."""
        return self._entries.held_bytes

    @property
    def last_good_bytes(self) -> int:
        """The sizes of the last good renders held, summed."""
        return self._last_good.held_bytes

    def peek(self, key: CacheKey) -> Rendered | None:
        return self._entries.get(key)

    def last_good(self, key: CacheKey) -> tuple[CacheKey, Rendered] | None:
        """The newest value stored for ``key``'s page and path (of any version or day), and
        its own key."""
        return self._last_good.get((key.page_id, key.path))

    def rendering(self, key: CacheKey) -> asyncio.Task[Rendered] | None:
        """The render of ``key`` in flight, if any."""
        return self._inflight.get(key)

    async def get_or_render(
        self, key: CacheKey, render: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        """The cached value for ``key``, rendering it (once, however many callers) if missing.

        The render runs in its own task, so a caller that goes away does not cancel it for
        the others; a failed render is not cached and each waiter sees its exception.
        """
        found = self.peek(key)
        if found is not None:
            return found
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._render(key, render))
            task.add_done_callback(_retrieve)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _render(self, key: CacheKey, render: Callable[[], Awaitable[Rendered]]) -> Rendered:
        try:
            self.renders += 1
            value = await render()
            self._store(key, value)
            return value
        finally:
            self._inflight.pop(key, None)

    def _store(self, key: CacheKey, value: Rendered) -> None:
        latest = self._latest.get(key.page_id, 0)
        if key.version < latest:
            return  # a slow render of an old version: never displace newer content
        if key.version > latest:
            self._latest[key.page_id] = key.version
            for old in self._entries:
                if old.page_id == key.page_id and old.version < key.version:
                    self._entries.pop(old)
        self._entries.put(key, value)
        place = (key.page_id, key.path)
        previous = self._last_good.get(place)
        if previous is None or (previous[0].version, previous[0].extra) <= (key.version, key.extra):
            self._last_good.put(place, (key, value))

    def clear(self) -> None:
        """Forget every value (the last good renders too)."""
        self._entries.clear()
        self._latest.clear()
        self._last_good.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Rendered]:
        return iter(self._entries.values())


def _entry_size(_key: CacheKey, value: Rendered) -> int:
    return rendered_size(value)


def _last_good_size(_place: tuple[str, str], entry: tuple[CacheKey, Rendered]) -> int:
    return rendered_size(entry[1])


def _retrieve(task: asyncio.Task[Rendered]) -> None:
    """Take a render's exception, so that one whose waiters all gave up (a deadline) is not
    reported as never retrieved."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class RenderContext:
    """What a renderer may need besides the snapshot.

    ``prefix`` is the URL path of the page's root without a trailing slash ("" on a custom
    domain, "/acme" under the base URL); ``public_url`` is the page's absolute URL (no trailing
    slash). Links made as ``prefix + "/incidents/ID"`` work live, behind a CDN, and in a static
    export.
    """

    settings: Settings
    prefix: str
    public_url: str
    now: datetime

    def url(self, path: str = "") -> str:
        """Absolute URL of ``path`` (relative to the page root, e.g. ``incidents/ID``)."""
        return self.public_url + ("/" + path.lstrip("/") if path else "")

    def href(self, path: str = "") -> str:
        """Root-relative link to ``path`` (relative to the page root); the root ends in ``/``."""
        return self.prefix + "/" + path.lstrip("/")


RenderFn = Callable[["PageSnapshot", RenderContext], bytes]


@dataclass(frozen=True)
class PublicResource:
    """A public file under each page's URL, rendered from the page's snapshot.

    ``path`` is relative to the page root (``api/v2/summary.json``, ``feed.atom``); ``headers``
    are added to every response (e.g. CORS); ``exported`` says whether ``clarion export``
    writes it.
    """

    path: str
    content_type: str
    render: RenderFn
    headers: Mapping[str, str] = field(default_factory=dict)
    exported: bool = True
    #: Whether the bytes depend on the UTC day as well as on the page's content.
    daily: bool = False


class ResourceRegistry:
    """The public resources served under every page, by relative path."""

    def __init__(self) -> None:
        self._by_path: dict[str, PublicResource] = {}

    def register(self, resource: PublicResource) -> None:
        path = resource.path.strip("/")
        if path in self._by_path:
            raise ValueError(f"public resource {path!r} is registered twice")
        self._by_path[path] = resource

    def get(self, path: str) -> PublicResource | None:
        return self._by_path.get(path.strip("/"))

    def __iter__(self) -> Iterator[PublicResource]:
        return iter(sorted(self._by_path.values(), key=lambda r: r.path))


def register_public_resource(
    registry: ResourceRegistry,
    path: str,
    content_type: str,
    render: RenderFn,
    *,
    headers: Mapping[str, str] | None = None,
    exported: bool = True,
    daily: bool = False,
) -> None:
    """Serve ``render(snapshot, context)`` at ``<page URL>/<path>`` through the render cache."""
    registry.register(
        PublicResource(
            path=path.strip("/"),
            content_type=content_type,
            render=render,
            headers=dict(headers or {}),
            exported=exported,
            daily=daily,
        )
    )


def cache_control(settings: Settings) -> str:
    """Short freshness for browsers and CDNs, then serve stale while revalidating (and on
    errors), so a spike is absorbed by the CDN while a write still shows within seconds."""
    max_age = settings.public_max_age_seconds
    stale = settings.public_stale_seconds
    return f"public, max-age={max_age}, stale-while-revalidate={stale}, stale-if-error=86400"
