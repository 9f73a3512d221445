"""Serving the public site: every status page under ``CLARION_BASE_URL/<slug>`` and at ``/``
of requests whose Host is the page's own domain.

The public site is the app router's fallback (``install``): every request that no API route
matched comes here, so API routes registered by any module always win, and unknown ``/v1`` and
``/v2`` paths keep the API's error envelope. It is a plain ASGI callable (no dependency
injection) because it is the hot path during an outage.

Per request: one indexed query for the page's id and ``content_version``; then the answer is a
304 (``If-None-Match``), the cached bytes, or one render shared by every concurrent request for
the same key (``cache.RenderCache``).
"""

from __future__ import annotations

import hashlib
import importlib
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from clarion.context import AppContext
from clarion.errors import NotFound
from clarion.http.envelope import error_response
from clarion.http.instant import header_lines
from clarion.public import html
from clarion.public.cache import (
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

#: First path segments that belong to the API, never to a status page.
API_PREFIXES = frozenset({"v1", "v2", "openapi.json", "healthz"})
#: Modules that add public resources (each has ``register_resources(registry)``).
RESOURCE_MODULES = (
    "clarion.public.statuspage_json",
    "clarion.public.feeds",
    "clarion.public.badge",
)
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
    """The registry with every resource module's resources (modules not present are skipped)."""
    registry = ResourceRegistry()
    for name in RESOURCE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register_resources(registry)
    return registry


@dataclass(frozen=True)
class Target:
    """What a request asks for: a page (or none), the path under it, and how it is linked."""

    page: PageRef | None
    rest: str
    prefix: str


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


def wants_html(request: Request) -> bool:
    """Whether the client reads HTML (browsers); others get the JSON error envelope."""
    return "text/html" in request.headers.get("accept", "")


#: Bound on ``PublicSite.hot_answer``'s entries (path, Host header and encoding each make
#: one); all are dropped when it is reached.
HOT_ENTRIES = 1024


@dataclass(frozen=True)
class _Hot:
    """A 200 that ``PublicSite.cached_answer`` gave, ready to send again. It holds while the
    version memo still gives the same answer (``refs``, by identity: no write seen, TTL not
    over), the render cache has not been cleared, and, for bytes that depend on the UTC day,
    during that ``day`` ([start, end)). A value the cache evicted meanwhile may still be sent:
    its key, hence its bytes, are still current.
    """

    memo_key: tuple[str, str]
    refs: tuple[PageRef, ...]
    #: ``RenderCache.clears`` when it was made: a cleared cache drops it too.
    clears: int
    day: tuple[datetime, datetime] | None
    headers: list[tuple[bytes, bytes]]
    body: bytes
    #: The ETag sent, as the exact ``If-None-Match`` value answered with 304 here.
    etag: bytes
    not_modified: list[tuple[bytes, bytes]]
    #: ``headers`` and ``not_modified`` as written on the wire (``header_lines``).
    lines: bytes
    not_modified_lines: bytes


class RequestIds:
    """``X-Request-Id`` values for the fast paths: UUID-shaped, a random prefix per process
    and a counter, so that each costs a string format rather than ``uuid4()``'s system call
    and object (a sixth of a cached answer's cost in this process)."""

    def __init__(self) -> None:
        rid = str(uuid.uuid4())
        self._prefix = rid[:24]
        self._line_prefix = f"x-request-id: {self._prefix}".encode()
        self._count = int(rid[24:], 16)

    def next(self) -> bytes:
        return f"{self._prefix}{self._advance():012x}".encode()

    def next_line(self) -> bytes:
        """The next value as its header line, ``x-request-id: ...\\r\\n``."""
        return b"%s%012x\r\n" % (self._line_prefix, self._advance())

    def _advance(self) -> int:
        self._count = (self._count + 1) & 0xFFFFFFFFFFFF
        return self._count


class PublicSite:
    """The public site of one running Clarion: render cache, resources, request handling."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.cache = RenderCache(ctx.settings.public_cache_entries)
        self.registry = build_registry()
        self.base_host = (urlsplit(ctx.settings.base_url).hostname or "").lower()
        self.cache_control = cache_control(ctx.settings)
        self.base_path = urlsplit(ctx.settings.base_url).path.rstrip("/")
        self.versions = VersionMemo(ctx.settings.public_version_ttl_seconds)
        self.snapshots = SnapshotShare()
        self.uptime = UptimeMemo()
        self.versions.watch(ctx.db.write_engine)
        self._hot: dict[tuple[str, bytes, bool], _Hot] = {}
        self.request_ids = RequestIds()

    # -- resolving -------------------------------------------------------------------------

    async def resolve(self, request: Request) -> Target:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower().strip("[]")
        return await self._resolve(request.scope["path"], host)

    async def _resolve(self, path: str, host: str) -> Target:
        """The page ``path`` names on ``host`` (lower-case, no port), and the rest of it."""
        return (await self._resolve_memo(path, host))[0]

    async def _resolve_memo(
        self, path: str, host: str
    ) -> tuple[Target, tuple[str, str] | None, tuple[PageRef, ...] | None]:
        """``_resolve``, with the version memo's key and the answer it was resolved from (None
        when no lookup was needed)."""
        segments = [s for s in path.strip("/").split("/")] if path.strip("/") else []
        first = segments[0] if segments else ""
        by_domain = bool(host) and host != self.base_host
        if not first and not by_domain:
            return Target(None, "", ""), None, None

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

        memo_key = (first, host if by_domain else "")
        refs = await self.versions.lookup(memo_key, load)
        for ref in refs:
            if by_domain and ref.custom_domain == host:
                return Target(ref, "/".join(segments), ""), memo_key, refs
        for ref in refs:
            if ref.slug == first:
                target = Target(ref, "/".join(segments[1:]), f"{self.base_path}/{ref.slug}")
                return target, memo_key, refs
        return Target(None, "/".join(segments), ""), memo_key, refs

    def cache_key(self, target: Target, resource: PublicResource | None, now: datetime) -> CacheKey:
        """The render cache key of ``target`` (whose ``page`` is set) at ``now``."""
        assert target.page is not None
        daily = resource is None or resource.daily
        return CacheKey(
            target.page.id,
            target.page.version,
            f"{'d' if target.prefix == '' else 's'}:{target.rest}",
            now.strftime("%Y-%m-%d") if daily else "",
        )

    def hot_answer(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The fastest path, without awaiting anything: the answer ``cached_answer`` gave
        before to the same path, host and encoding, while everything it depended on still
        holds (see ``_Hot``); None otherwise (and for conditional requests it cannot answer
        exactly), and ``cached_answer`` takes over.
        """
        found = self._hot_for(scope)
        if found is None:
            return None
        hot, not_modified = found
        rid = (b"x-request-id", self.request_ids.next())
        if not_modified:
            return 304, [*hot.not_modified, rid], b""
        return 200, [*hot.headers, rid], b"" if scope["method"] == "HEAD" else hot.body

    def hot_wire(self, scope: Scope) -> tuple[int, bytes, bytes] | None:
        """``hot_answer``'s answer with its headers as the lines written on the wire
        (``name: value\\r\\n`` each), made once per hot answer: for the HTTP parser's
        callback (``clarion.http.instant``)."""
        found = self._hot_for(scope)
        if found is None:
            return None
        hot, not_modified = found
        rid = self.request_ids.next_line()
        if not_modified:
            return 304, hot.not_modified_lines + rid, b""
        return 200, hot.lines + rid, b"" if scope["method"] == "HEAD" else hot.body

    def _hot_for(self, scope: Scope) -> tuple[_Hot, bool] | None:
        """The hot answer for ``scope`` and whether it is a 304, or None.

        Per request: one pass over the headers, one dictionary lookup, the version memo's
        validity (no query) and, for daily bytes, the clock.
        """
        if scope["query_string"]:
            return None
        host = b""
        gz = False
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"accept-encoding":
                gz = b"gzip" in value
            elif name == b"if-none-match":
                if_none_match = value
        hot = self._hot.get((scope["path"], host, gz))
        if hot is None or self.versions.fresh(hot.memo_key) is not hot.refs:
            return None
        if hot.clears != self.cache.clears:
            return None
        if hot.day is not None:
            now = self.ctx.clock.now()
            if not hot.day[0] <= now < hot.day[1]:
                return None
        if if_none_match is None:
            return hot, False
        if if_none_match != hot.etag:
            return None  # other tags, lists, weak forms: ``cached_answer`` compares them
        return hot, True

    async def cached_answer(
        self, scope: Scope
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The fast path: (status, ASGI headers, body) for a ``GET``/``HEAD`` whose bytes are
        in the render cache (a 200 or a 304), with headers made once per cached value; None
        for everything else, which takes the full path.

        Per request this parses three headers, consults the memoised page version (see
        ``versions.VersionMemo``) and looks the key up in the cache: no database query while
        the memo is fresh, no framework objects, no compression. A 200 it gives is kept for
        ``hot_answer``.
        """
        if scope["query_string"]:
            return None  # query forms (``history?month=``) and NUL checks: the full path
        host = b""
        accept = b""
        if_none_match = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"accept-encoding":
                accept = value
            elif name == b"if-none-match":
                if_none_match = value
        hostname = host.decode("latin-1").rsplit(":", 1)[0].lower().strip("[]")
        target, memo_key, refs = await self._resolve_memo(scope["path"], hostname)
        now = self.ctx.clock.now()
        daily = False
        rendered = self.asset_of(target)
        if rendered is None:
            if target.page is None or target.rest.startswith("static/"):
                return None
            resource = self.registry.get(target.rest) if target.rest else None
            key = self.cache_key(target, resource, now)
            rendered = self.cache.peek(key)
            if rendered is None or rendered.status != 200:
                return None
            daily = bool(key.extra)
        gz = b"gzip" in accept and rendered.gzipped is not None
        head = scope["method"] == "HEAD"
        rid = self.request_ids.next()
        if if_none_match and etag_matches(if_none_match.decode("latin-1"), rendered.etag):
            etag = held_etag(if_none_match.decode("latin-1"), rendered.etag)
            return 304, [*self._wire_headers(etag, rendered.headers), (b"x-request-id", rid)], b""
        headers, body = self._wire(rendered, gz)
        if memo_key is not None and refs is not None:
            hot_key = (scope["path"], host, b"gzip" in accept)
            self._keep_hot(hot_key, memo_key, refs, rendered, now if daily else None)
        return 200, [*headers, (b"x-request-id", rid)], b"" if head else body

    def asset_of(self, target: Target) -> Rendered | None:
        """The bundled asset ``target`` names (``static/<name>`` under a page, or at the root
        of the base URL or of a page's own domain), or None."""
        parts = target.rest.split("/")
        if len(parts) != 2 or parts[0] != "static":
            return None
        if target.page is None and target.prefix != "":
            return None
        return static_asset(parts[1])

    def _keep_hot(
        self,
        hot_key: tuple[str, bytes, bool],
        memo_key: tuple[str, str],
        refs: tuple[PageRef, ...],
        rendered: Rendered,
        day_of: datetime | None,
    ) -> None:
        """Keep ``rendered``'s answer for ``hot_answer``; ``day_of``: the moment whose UTC
        day the bytes hold for (None: bytes that do not depend on the day)."""
        gz = hot_key[2] and rendered.gzipped is not None
        headers, body = self._wire(rendered, gz)
        etag = gzip_etag(rendered.etag) if gz else rendered.etag
        day = None
        if day_of is not None:  # daily bytes: valid for the UTC day they were rendered for
            start = datetime(day_of.year, day_of.month, day_of.day, tzinfo=UTC)
            day = (start, start + timedelta(days=1))
        if len(self._hot) >= HOT_ENTRIES:
            self._hot.clear()
        not_modified = self._wire_headers(etag, rendered.headers)
        self._hot[hot_key] = _Hot(
            memo_key,
            refs,
            self.cache.clears,
            day,
            headers,
            body,
            etag.encode("latin-1"),
            not_modified,
            header_lines(headers),
            header_lines(not_modified),
        )

    def _wire(self, rendered: Rendered, gz: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The ASGI headers and body of ``rendered`` (gzip-encoded if ``gz``), made once."""
        name = "wire-gzip" if gz else "wire"
        found: tuple[list[tuple[bytes, bytes]], bytes] | None = rendered.memo.get(name)
        if found is None:
            body = rendered.gzipped if gz and rendered.gzipped is not None else rendered.body
            etag = gzip_etag(rendered.etag) if gz else rendered.etag
            headers = [
                (b"content-type", rendered.content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                *self._wire_headers(etag, rendered.headers),
            ]
            if gz:
                headers.append((b"content-encoding", b"gzip"))
            found = (headers, body)
            rendered.memo[name] = found
        return found

    def _wire_headers(self, etag: str, extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
        return [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in self._headers(etag, dict(extra)).items()
        ]

    def claims(self, scope: Scope) -> bool:
        """Whether the path has the shape of a public page path (no database access): under a
        slug, or under ``/`` on a host other than the base URL's."""
        segments = scope["path"].strip("/").split("/")
        if segments[0] in API_PREFIXES or segments[0].startswith("openapi"):
            return False
        if self._public_shape(segments[1:]):
            return True
        host = b""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value
                break
        hostname = host.decode("latin-1").rsplit(":", 1)[0].lower().strip("[]")
        return bool(hostname) and hostname != self.base_host and self._public_shape(segments)

    def _public_shape(self, parts: list[str]) -> bool:
        if not parts or parts == [""]:
            return True
        head, count = parts[0], len(parts)
        if head in ("incidents", "maintenance", "static") and count == 2:
            return True
        if head == "history" and count <= 2:
            return True
        return self.registry.get("/".join(parts)) is not None

    # -- serving ---------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Answer a public request; a 404 is an HTML page for browsers and the API's error
        envelope for every other client (scripts, monitors, the SDK)."""
        response = await self._handle(request)
        if response.status_code == 404 and not wants_html(request):
            return error_response(request.scope, NotFound("No page or resource at this path"))
        return response

    async def _handle(self, request: Request) -> Response:
        method = request.method
        if method not in ("GET", "HEAD", "OPTIONS"):
            return Response(status_code=405, headers={"Allow": "GET, HEAD, OPTIONS"})
        target = await self.resolve(request)
        rest = target.rest
        parts = rest.split("/") if rest else []
        # Assets live at /static/... and under each page (so exports and custom domains work).
        if (
            parts
            and parts[0] == "static"
            and len(parts) == 2
            and (target.page is not None or target.prefix == "")
        ):
            return self._asset(request, parts[1])
        if target.page is None:
            if request.scope["path"] == "/" and method != "OPTIONS":
                return await self._root()
            return self._not_found(None, None)
        now = self.ctx.clock.now()
        if rest == "history" and "month" in request.query_params:
            month = html.Month.parse(request.query_params["month"])
            if month is None:
                return self._not_found(target, now)
            return RedirectResponse(f"{target.prefix}/history/{month.key}", status_code=301)
        resource = self.registry.get(rest) if rest else None
        if method == "OPTIONS":
            if resource is None or not resource.headers:
                return Response(status_code=405, headers={"Allow": "GET, HEAD"})
            return Response(status_code=204, headers=dict(resource.headers))
        key = self.cache_key(target, resource, now)
        extra = dict(resource.headers) if resource is not None else {}
        not_modified = self._not_modified_for(request, key.etag, extra)
        if not_modified is not None:
            return not_modified
        try:
            rendered = await self.cache.get_or_render(key, self._renderer(target, key, now))
        except NotFoundError:
            return self._not_found(target, now)
        return self._send(request, rendered)

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
            return Rendered.build(body, content_type, key.etag, headers=headers)

        return render

    def _headers(self, etag: str, extra: dict[str, str]) -> dict[str, str]:
        return {
            "ETag": etag,
            "Cache-Control": self.cache_control,
            "Vary": "Accept-Encoding",
            **extra,
        }

    def _send(self, request: Request, rendered: Rendered) -> Response:
        body, etag = rendered.body, rendered.etag
        headers = self._headers(etag, dict(rendered.headers))
        # Asked first: an identity answer never pays for compressing (``Rendered.gzipped``).
        if "gzip" in request.headers.get("accept-encoding", "") and rendered.gzipped is not None:
            body = rendered.gzipped
            headers["ETag"] = gzip_etag(etag)
            headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(b"", rendered.status, headers, rendered.content_type)
        return Response(body, rendered.status, headers, rendered.content_type)

    def _not_modified(self, etag: str, extra: dict[str, str]) -> Response:
        return Response(status_code=304, headers=self._headers(etag, extra))

    def _not_modified_for(
        self, request: Request, etag: str, extra: dict[str, str]
    ) -> Response | None:
        """A 304 when ``If-None-Match`` names ``etag`` or its gzip variant, echoing the tag of
        the representation the client holds; else None."""
        if_none_match = request.headers.get("if-none-match")
        if if_none_match and etag_matches(if_none_match, etag):
            return self._not_modified(held_etag(if_none_match, etag), extra)
        return None

    def _asset(self, request: Request, name: str) -> Response:
        """A bundled asset, answered like a page's cached bytes (gzip, ETag, 304)."""
        rendered = static_asset(name)
        if rendered is None:
            return self._not_found(None, None)
        not_modified = self._not_modified_for(request, rendered.etag, dict(rendered.headers))
        return not_modified or self._send(request, rendered)

    async def _root(self) -> Response:
        """``/`` of the base URL: the page when there is exactly one, else a 404."""
        async with self.ctx.db.read() as session:
            slugs = list((await session.scalars(select(StatusPage.slug).limit(2))).all())
        if len(slugs) != 1:
            return self._not_found(None, None)
        base_path = urlsplit(self.settings.base_url).path.rstrip("/")
        return RedirectResponse(f"{base_path}/{slugs[0]}", status_code=302)

    def _not_found(self, target: Target | None, now: datetime | None) -> Response:
        ctx = None
        if target is not None and target.page is not None and now is not None:
            ctx = RenderContext(self.settings, target.prefix, "", now)
        name = target.page.slug if target is not None and target.page is not None else None
        base_path = urlsplit(self.settings.base_url).path.rstrip("/")
        body = html.render_not_found(ctx, name, f"{base_path}/static/")
        return Response(
            body, 404, {"Cache-Control": "public, max-age=10"}, "text/html; charset=utf-8"
        )


def site_of(ctx: AppContext) -> PublicSite:
    site = ctx.extras.get("public_site")
    if site is None:
        site = PublicSite(ctx)
        ctx.extras["public_site"] = site
    assert isinstance(site, PublicSite)
    return site


def route_paths(routes: list[Any], prefix: str = "") -> list[str]:
    """The path template of every route, through included routers."""
    found: list[str] = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            found += route_paths(original.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(getattr(route, "path", None), str):
            found.append(prefix + route.path)
        else:
            found += route_paths(getattr(route, "routes", []) or [], prefix)
    return found


def claimed_elsewhere(paths: list[str]) -> tuple[frozenset[str], frozenset[str]]:
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


class PublicFirst:
    """In front of the router: requests whose path has the shape of a public page (the page,
    its incidents, maintenance, history, assets and registered resources) go straight to the
    public site, without matching every API route first; everything else goes to the router
    (whose fallback is still the public site, for its 404s). Paths that another route could
    match (a literal first segment like ``/subscribe``, or ``/{slug}/subscribe``) are always
    left to the router."""

    def __init__(self, router_stack: ASGIApp, ctx: AppContext, app: FastAPI) -> None:
        self.router_stack = router_stack
        self.ctx = ctx
        self.app = app
        self.reserved: tuple[frozenset[str], frozenset[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.reserved is None and scope["type"] == "http":
            # Every module has registered its routes by the first request.
            self.reserved = claimed_elsewhere(route_paths(list(self.app.router.routes)))
        if scope["type"] == "http" and self._claims(scope):
            response = await site_of(self.ctx).handle(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.router_stack(scope, receive, send)

    def _claims(self, scope: Scope) -> bool:
        first, second = self.reserved or (frozenset(), frozenset())
        parts = scope["path"].strip("/").split("/")
        if parts[0] in first or (len(parts) > 1 and parts[1] in second):
            return False
        return site_of(self.ctx).claims(scope)


class PublicFallback:
    """The router's fallback: the public site, except for API paths (their 404 stays the API's
    error envelope)."""

    def __init__(self, api_default: ASGIApp, ctx: AppContext) -> None:
        self.api_default = api_default
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api_default(scope, receive, send)
            return
        first = scope["path"].lstrip("/").split("/", 1)[0]
        if first in API_PREFIXES or first.startswith("openapi"):
            await self.api_default(scope, receive, send)
            return
        response = await site_of(self.ctx).handle(Request(scope, receive))
        await response(scope, receive, send)


class PublicFast:
    """The outermost ASGI layer: a ``GET``/``HEAD`` of a public path whose bytes are cached is
    answered here (``PublicSite.cached_answer``), before the framework's middleware and
    router; everything else, and anything that fails on the way, takes the full path."""

    def __init__(self, app_stack: ASGIApp, ctx: AppContext) -> None:
        self.app_stack = app_stack
        self.ctx = ctx
        self.site: PublicSite | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            first = scope["path"][1:].split("/", 1)[0]
            if first not in API_PREFIXES and not first.startswith("openapi"):
                site = self.site or site_of(self.ctx)
                self.site = site
                try:
                    answer = site.hot_answer(scope) or await site.cached_answer(scope)
                except Exception:  # the full path answers it, and reports it properly
                    answer = None
                if answer is not None:
                    status, headers, body = answer
                    await send(
                        {"type": "http.response.start", "status": status, "headers": headers}
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app_stack(scope, receive, send)


def install(app: FastAPI) -> None:
    """Serve the public site: cached public bytes before anything else, public-shaped paths
    first, and every request no other route matches."""
    ctx = app.state.ctx
    # The server answers these from its parser callback (``clarion.http.instant``).
    app.state.instant_answer = site_of(ctx).hot_wire
    app.router.default = PublicFallback(app.router.default, ctx)
    app.router.middleware_stack = PublicFirst(app.router.middleware_stack, ctx, app)
    build_stack = app.build_middleware_stack

    def build_with_fast_path() -> ASGIApp:
        return PublicFast(build_stack(), app.state.ctx)

    app.build_middleware_stack = build_with_fast_path  # type: ignore[method-assign]
