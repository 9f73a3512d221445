"""Serving the public site: every status page under ``CLARION_BASE_URL/<slug>`` and at ``/``
of requests whose Host is the page's own domain.

The site is one route of the app (``PublicRoute``), first in the router, behind the same
middleware as every other request. It takes every path outside the API (``/v1``, ``/v2``,
``/openapi.json``, ``/healthz``) that no other route names by a literal segment (``/subscribe``,
``/{slug}/subscribe``), and answers without dependency injection: it is the hot path during an
outage.

Per request: the page's id and ``content_version`` (memoised briefly, ``versions.VersionMemo``);
then the answer is a 304 (``If-None-Match``), the cached bytes, or one render shared by every
concurrent request for the same key (``cache.RenderCache``).

When the database is unavailable (it fails, or does not answer within
``CLARION_PUBLIC_READ_DEADLINE_SECONDS``), a request is answered with the last good render of
what it asks for (stale-if-error), for as long as the outage lasts: the HTML says since when it
could not be refreshed, and every such answer carries an ``Age`` header (seconds since the
content was last known current) and an ETag of its own. Only what was never rendered since
the process started gets the 503 envelope.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import or_, select
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from clarion.context import AppContext
from clarion.errors import MethodNotAllowed, NotFound, ServiceUnavailable
from clarion.lru import MIB
from clarion.public import badge, feeds, html, stale_if_error, statuspage_json
from clarion.public.cache import (
    RENDERED_AT,
    CacheKey,
    PublicResource,
    RenderCache,
    RenderContext,
    Rendered,
    ResourceRegistry,
    cache_control,
    etag_matches,
    gzip_etag,
    held_etag,
    rendered_at,
)
from clarion.public.snapshot import (
    PageHistory,
    PageSnapshot,
    SnapshotShare,
    load_history,
    load_snapshot,
)
from clarion.public.uptime import UptimeMemo
from clarion.public.versions import PageRef, VersionMemo
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage
from clarion.status_pages.schemas import public_url

log = logging.getLogger("clarion.public")

#: First path segments that belong to the API, never to a status page.
API_PREFIXES = frozenset({"v1", "v2", "openapi.json", "healthz", "readyz"})
HTML_TYPE = "text/html; charset=utf-8"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ULID = re.compile(r"^[0-9A-Za-z]{26}$")


class NotFoundError(Exception):
    """A path under a page that names nothing (never cached)."""


def build_registry() -> ResourceRegistry:
    """Every public resource: the Statuspage-compatible JSON, the feeds and the badge."""
    registry = ResourceRegistry()
    for module in (statuspage_json, feeds, badge):
        module.register_resources(registry)
    return registry


@dataclass(frozen=True)
class Target:
    """What a request asks for: a page (or none), the path under it, and how it is linked."""

    page: PageRef | None
    rest: str
    prefix: str
    #: The page's version is the last one known: the database did not answer.
    stale: bool = False


def page_context(
    page: StatusPage, settings: Settings, now: datetime, *, on_domain: bool
) -> RenderContext:
    """How a page links to itself when reached on its own domain or under the base URL."""
    if on_domain and page.custom_domain:
        return RenderContext(settings, "", public_url(page, settings), now)
    base_path = urlsplit(settings.base_url).path.rstrip("/")
    return RenderContext(
        settings, f"{base_path}/{page.slug}", f"{settings.base_url}/{page.slug}", now
    )


async def render_path(
    session: Any,
    snap: PageSnapshot,
    ctx: RenderContext,
    rest: str,
    registry: ResourceRegistry,
    uptime_memo: UptimeMemo | None = None,
) -> tuple[bytes, str, dict[str, str]]:
    """The body, content type and extra headers of ``rest`` under the page (shared with the
    export). Raises ``NotFoundError`` when ``rest`` names nothing."""
    if rest == "":
        return await html.render_index(session, snap, ctx, uptime_memo), HTML_TYPE, {}
    parts = rest.split("/")
    if parts[0] == "incidents" and len(parts) == 2 and _ULID.match(parts[1]):
        body = await html.render_incident(session, snap, ctx, parts[1])
    elif parts[0] == "maintenance" and len(parts) == 2 and _ULID.match(parts[1]):
        body = await html.render_maintenance(session, snap, ctx, parts[1])
    elif parts[0] == "history" and len(parts) <= 2:
        month = html.Month.of(ctx.now) if len(parts) == 1 else html.Month.parse(parts[1])
        current = html.Month.of(ctx.now)
        if month is None or (month.year, month.month) > (current.year, current.month):
            raise NotFoundError
        body = await html.render_history(session, snap, ctx, month)
    else:
        resource = registry.get(rest)
        if resource is None:
            raise NotFoundError
        return resource.render(snap, ctx), resource.content_type, dict(resource.headers)
    if body is None:
        raise NotFoundError
    return body, HTML_TYPE, {}


#: How long browsers and CDNs may keep a bundled asset without asking again.
ASSET_CACHE_CONTROL = "public, max-age=3600"


@lru_cache(maxsize=16)
def static_asset(name: str) -> Rendered | None:
    """A bundled asset, ready to send like a rendered page (its gzip variant made on first
    use), or None."""
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return None
    body = path.read_bytes()
    etag = '"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'
    content_type = STATIC_TYPES.get(path.suffix, "application/octet-stream")
    return Rendered.build(body, content_type, etag, headers={"Cache-Control": ASSET_CACHE_CONTROL})


async def load_detached_snapshot(
    session: Any, page: StatusPage, now: datetime, *, history: bool
) -> PageSnapshot:
    """``load_snapshot``, with its objects detached from ``session`` at once.

    The snapshot outlives the session (``SnapshotShare`` hands it to later renders), and a
    rollback of this session — any exception raised inside it, such as a 404 for an unknown
    sub-path — would otherwise expire every object it holds, breaking every later render.
    """
    snap = await load_snapshot(session, page, now, history=history)
    session.expunge_all()
    return snap


async def load_detached_history(session: Any, snap: PageSnapshot) -> PageHistory:
    """``load_history``, detached from ``session`` like ``load_detached_snapshot``."""
    history = await load_history(session, snap)
    session.expunge_all()
    return history


#: The methods of the public site, and of its resources that send no CORS headers.
SITE_METHODS = "GET, HEAD, OPTIONS"
RESOURCE_METHODS = "GET, HEAD"


class PublicSite:
    """The public site of one running Clarion: render cache, resources, request handling."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.cache = RenderCache(
            self.settings.public_cache_entries, self.settings.public_cache_mb * MIB
        )
        self.registry = build_registry()
        self.base_host = (urlsplit(ctx.settings.base_url).hostname or "").lower()
        self.cache_control = cache_control(ctx.settings)
        self.base_path = urlsplit(ctx.settings.base_url).path.rstrip("/")
        self.deadline = ctx.settings.public_read_deadline_seconds
        self.versions = VersionMemo(
            ctx.settings.public_version_ttl_seconds, ctx.db, deadline=self.deadline
        )
        self.snapshots = SnapshotShare()
        self.uptime = UptimeMemo()
        #: Each page's version and the last moment a lookup found it current.
        self.confirmed: dict[str, tuple[int, datetime]] = {}
        #: The slugs ``/`` saw last (answers ``/`` while the database is unavailable).
        self._root_slugs: list[str] | None = None

    # -- resolving -------------------------------------------------------------------------

    async def resolve(self, path: str, host: str) -> Target:
        """The page ``path`` names on ``host`` (lower-case, without its port): under a slug of
        the base URL's host, or at the root of a page's own domain; and the rest of the path."""
        segments = path.strip("/").split("/") if path.strip("/") else []
        first = segments[0] if segments else ""
        by_domain = bool(host) and host != self.base_host
        if not first and not by_domain:
            return Target(None, "", "")

        async def load() -> list[PageRef]:
            conditions = []
            if first:
                conditions.append(StatusPage.slug == first)
            if by_domain:
                conditions.append(StatusPage.custom_domain == host)
            async with self.ctx.db.read() as session:
                rows = await session.execute(
                    select(
                        StatusPage.id,
                        StatusPage.slug,
                        StatusPage.content_version,
                        StatusPage.custom_domain,
                    ).where(or_(*conditions))
                )
                return [PageRef(r[0], r[1], r[2], r[3]) for r in rows]

        key = (first, host if by_domain else "")
        refs, stale = await self.versions.lookup_or_last(key, load)
        for ref in refs:
            if by_domain and ref.custom_domain == host:
                return Target(ref, "/".join(segments), "", stale)
        for ref in refs:
            if ref.slug == first:
                return Target(ref, "/".join(segments[1:]), f"{self.base_path}/{ref.slug}", stale)
        return Target(None, "/".join(segments), "", stale)

    def cache_key(self, target: Target, resource: PublicResource | None, now: datetime) -> CacheKey:
        """The render cache key of ``target`` (whose ``page`` is set) at ``now``."""
        assert target.page is not None
        daily = resource is None or resource.daily
        return CacheKey(
            target.page.id,
            target.page.version,
            f"{'d' if target.prefix == '' else 's'}:{target.rest}",
            now.date().isoformat() if daily else "",
        )

    # -- serving ---------------------------------------------------------------------------

    async def handle(self, scope: Scope) -> Answer:
        """Answer a public request (errors are raised: ``http/envelope.py`` answers them)."""
        asked = Asked.of(scope)
        method = asked.method
        if method not in ("GET", "HEAD", "OPTIONS"):
            raise MethodNotAllowed(SITE_METHODS)
        target = await self.resolve(asked.path, asked.host)
        rest = target.rest
        parts = rest.split("/") if rest else []
        # Assets live at /static/... and under each page (so exports and custom domains work).
        if (
            parts
            and parts[0] == "static"
            and len(parts) == 2
            and (target.page is not None or target.prefix == "")
        ):
            return self._asset(asked, parts[1])
        if target.page is None:
            if asked.path == "/" and method != "OPTIONS":
                return await self._root()
            raise self._not_found(None, None)
        now = self.ctx.clock.now()
        if rest == "history" and asked.query:
            months = parse_qs(asked.query.decode("latin-1")).get("month")
            if months:
                month = html.Month.parse(months[0])
                if month is None:
                    raise self._not_found(target, now)
                return RedirectResponse(f"{target.prefix}/history/{month.key}", status_code=301)
        resource = self.registry.get(rest) if rest else None
        if method == "OPTIONS":
            if resource is None or not resource.headers:
                raise MethodNotAllowed(RESOURCE_METHODS)
            return Response(status_code=204, headers=dict(resource.headers))
        key = self.cache_key(target, resource, now)
        if target.stale:
            return self._stale(asked, key, now)
        self.confirmed[key.page_id] = (key.version, now)
        not_modified = self._not_modified(asked, key.etag, resource.headers if resource else {})
        if not_modified is not None:
            return not_modified
        try:
            rendered = await self._render(target, key, now)
        except NotFoundError:
            raise self._not_found(target, now) from None
        except Exception as error:
            if self.cache.last_good(key) is None:
                raise
            if not stale_if_error.is_unavailability(error):
                log.exception("public render failed: answered with the last good render")
            return self._stale(asked, key, now)
        return self._send(asked, rendered)

    async def _render(self, target: Target, key: CacheKey, now: datetime) -> Rendered:
        """The value of ``key``, from the cache or rendered; when there is a last good render
        to fall back on, waiting at most ``deadline`` seconds for the database."""
        found = self.cache.peek(key)
        if found is not None:
            return found
        render = self._renderer(target, key, now)
        if self.cache.last_good(key) is None:
            return await self.cache.get_or_render(key, render)
        async with asyncio.timeout(self.deadline):
            return await self.cache.get_or_render(key, render)

    def _stale(self, asked: Asked, key: CacheKey, now: datetime) -> Ready:
        """The last good render of ``key``'s page and path, marked stale (the database is
        unavailable); the 503 envelope when there is none."""
        rendered = self.cache.peek(key)
        used = key
        if rendered is None:
            last = self.cache.last_good(key)
            if last is None:
                raise ServiceUnavailable(
                    "database_unavailable",
                    "The status page cannot be shown now: its database is unavailable",
                )
            used, rendered = last
        # Current when rendered, and whenever a lookup found its version still the page's.
        as_of = rendered_at(rendered) or now
        confirmed = self.confirmed.get(key.page_id)
        if confirmed is not None and confirmed[0] == used.version:
            as_of = max(as_of, confirmed[1])
        variant = stale_if_error.variant(rendered, as_of)
        age = [(b"age", str(max(0, int((now - as_of).total_seconds()))).encode())]
        not_modified = self._not_modified(asked, variant.etag, variant.headers)
        answer = not_modified or self._send(asked, variant)
        return Ready(answer.status, [*answer.headers, *age], answer.body)

    def _renderer(
        self, target: Target, key: CacheKey, now: datetime
    ) -> Callable[[], Awaitable[Rendered]]:
        async def render() -> Rendered:
            async with self.ctx.db.read() as session:
                page = await session.get(StatusPage, key.page_id)
                if page is None:
                    raise NotFoundError
                # Shared by every resource of this version; read here when it is the first
                # (this render waits for that read, so its session is not used concurrently).
                # The HTML pages do not show the recent history; the other resources do, and
                # read it here (in this transaction, which sees the snapshot's version) when
                # no resource of this version has yet.
                history = self.registry.get(target.rest) is not None if target.rest else False
                snap = await self.snapshots.get(
                    page,
                    now,
                    lambda: load_detached_snapshot(session, page, now, history=history),
                )
                if history:
                    await self.snapshots.history(snap, lambda: load_detached_history(session, snap))
                ctx = page_context(page, self.settings, now, on_domain=target.prefix == "")
                body, content_type, headers = await render_path(
                    session, snap, ctx, target.rest, self.registry, self.uptime
                )
            rendered = Rendered.build(body, content_type, key.etag, headers=headers)
            rendered.memo[RENDERED_AT] = now
            return rendered

        return render

    def _headers(self, etag: str, extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
        """The headers of every public answer, 200 or 304 (the one place they are made)."""
        headers = {
            "etag": etag,
            "cache-control": self.cache_control,
            "vary": "Accept-Encoding",
            **{name.lower(): value for name, value in extra.items()},
        }
        return [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]

    def _send(self, asked: Asked, rendered: Rendered) -> Ready:
        """A 200 with ``rendered``'s bytes, gzip-encoded when the client accepts it; its
        headers are made once per cached value and encoding."""
        gz = asked.gzip and rendered.gzipped is not None
        found: tuple[list[tuple[bytes, bytes]], bytes] | None = rendered.memo.get(
            "answer-gzip" if gz else "answer"
        )
        if found is None:
            body = rendered.gzipped if gz and rendered.gzipped is not None else rendered.body
            headers = [
                (b"content-type", rendered.content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode("latin-1")),
                *self._headers(gzip_etag(rendered.etag) if gz else rendered.etag, rendered.headers),
            ]
            if gz:
                headers.append((b"content-encoding", b"gzip"))
            found = rendered.memo["answer-gzip" if gz else "answer"] = (headers, body)
        headers, body = found
        return Ready(rendered.status, headers, b"" if asked.method == "HEAD" else body)

    def _not_modified(self, asked: Asked, etag: str, extra: Mapping[str, str]) -> Ready | None:
        """The conditional GET of every public answer: a 304 when ``If-None-Match`` names
        ``etag`` or its gzip variant (echoing the tag the client holds), else None."""
        if asked.if_none_match and etag_matches(asked.if_none_match, etag):
            return Ready(304, self._headers(held_etag(asked.if_none_match, etag), extra), b"")
        return None

    def _asset(self, asked: Asked, name: str) -> Ready:
        """A bundled asset, answered like a page's cached bytes (gzip, ETag, 304)."""
        rendered = static_asset(name)
        if rendered is None:
            raise self._not_found(None, None)
        not_modified = self._not_modified(asked, rendered.etag, rendered.headers)
        return not_modified or self._send(asked, rendered)

    async def _root(self) -> Response:
        """``/`` of the base URL: the page when there is exactly one, else a 404 (as last
        seen, while the database is unavailable)."""
        try:
            async with asyncio.timeout(self.deadline), self.ctx.db.read() as session:
                slugs = list((await session.scalars(select(StatusPage.slug).limit(2))).all())
        except Exception:
            if self._root_slugs is None:
                raise
            slugs = self._root_slugs
        self._root_slugs = slugs
        if len(slugs) != 1:
            raise self._not_found(None, None)
        return RedirectResponse(f"{self.base_path}/{slugs[0]}", status_code=302)

    def _not_found(self, target: Target | None, now: datetime | None) -> NotFound:
        """The 404 of a public path: the site's own page for browsers."""
        ctx = None
        if target is not None and target.page is not None and now is not None:
            ctx = RenderContext(self.settings, target.prefix, "", now)
        name = target.page.slug if target is not None and target.page is not None else None
        page = html.render_not_found(ctx, name, f"{self.base_path}/static/")
        return NotFound("No page or resource at this path", page=page)


@dataclass(frozen=True)
class Asked:
    """What a public request asks, read from its ASGI scope in one pass over its headers."""

    method: str
    path: str
    #: The ``Host`` header, lower-case, without its port.
    host: str
    query: bytes
    gzip: bool
    if_none_match: str | None

    @classmethod
    def of(cls, scope: Scope) -> Asked:
        host = b""
        gz = False
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"accept-encoding":
                gz = b"gzip" in value
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        return cls(
            scope["method"],
            scope["path"],
            host.decode("latin-1").rsplit(":", 1)[0].lower().strip("[]"),
            scope["query_string"],
            gz,
            if_none_match,
        )


@dataclass(frozen=True)
class Ready:
    """An answer ready to send as it is (the render cache's bytes, a 304), callable like a
    Starlette response."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


#: What the public site answers with.
Answer = Ready | Response


def reserved_segments(paths: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Literal path segments other routes use: as the first segment (``/subscribe``), and as
    the second after a parameter (``/{slug}/subscribe``). The public site leaves those paths
    to the router."""
    first: set[str] = set()
    second: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")
        if parts[0] and not parts[0].startswith("{"):
            first.add(parts[0])
        elif len(parts) > 1 and parts[0].startswith("{") and not parts[1].startswith("{"):
            second.add(parts[1])
    return frozenset(first), frozenset(second)


class PublicRoute(BaseRoute):
    """The public site as a route of the app (first in its router; see the module)."""

    def __init__(self, site: PublicSite, other_paths: Iterable[str]) -> None:
        self.site = site
        self.first, self.second = reserved_segments(other_paths)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        parts = scope["path"][1:].split("/", 2)
        head = parts[0]
        if head in API_PREFIXES or head.startswith("openapi") or head in self.first:
            return Match.NONE, {}
        if len(parts) > 1 and parts[1] in self.second:
            return Match.NONE, {}
        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self.site.handle(scope)
        await answer(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)
