"""Cached public bytes: the render cache answers repeated requests, with the same bytes and
headers as the first answer, HEAD and 304s included, without querying the database while the
page's version is memoised."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from incident_io import AuthenticatedClient
from sqlalchemy import event

from clarion.context import AppContext
from clarion.public import routes, snapshot
from clarion.public.routes import STATIC_DIR
from clarion.public.versions import PageRef, VersionMemo
from tests.factories import PageInfo
from tests.harness import LiveServer
from tests.public.test_page import get, publish

#: Headers each server adds by itself (and the per-request id).
PER_REQUEST = {"date", "server", "x-request-id"}


def _renders(server: LiveServer) -> int:
    return server.site.cache.renders


def _clear_cache(server: LiveServer) -> None:
    async def clear(_ctx: AppContext) -> None:
        server.site.cache.clear()

    server.call(clear)


def _same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert {k: v for k, v in again.headers.items() if k not in PER_REQUEST} == {
        k: v for k, v in first.headers.items() if k not in PER_REQUEST
    }
    assert again.headers["x-request-id"] != first.headers["x-request-id"]


def test_a_cached_page_is_answered_from_the_render_cache_with_the_first_answers_bytes_and_headers(
    server: LiveServer, page: PageInfo
) -> None:
    cases: list[dict[str, str]] = [
        {"Accept-Encoding": "identity"},
        {"Accept-Encoding": "gzip, deflate, br"},
    ]
    for path in (f"/{page.slug}", f"/{page.slug}/api/v2/summary.json"):
        for headers in cases:
            _clear_cache(server)
            before = _renders(server)
            first = get(server, path, headers=headers)
            assert _renders(server) == before + 1  # a miss renders
            again = get(server, path, headers=headers)
            assert _renders(server) == before + 1  # the hit did not
            _same_answer(first, again)
            head = httpx.head(server.base_url + path, headers=headers, timeout=30)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == again.headers["content-length"]
            not_modified = get(
                server, path, headers={**headers, "If-None-Match": again.headers["etag"]}
            )
            assert not_modified.status_code == 304 and not_modified.content == b""
            assert not_modified.headers["etag"] == again.headers["etag"]
            assert not_modified.headers["cache-control"] == again.headers["cache-control"]
            assert _renders(server) == before + 1


def test_cached_answers_make_no_database_query_while_the_version_is_memoised(
    server: LiveServer, page: PageInfo
) -> None:
    get(server, f"/{page.slug}")  # rendered and cached
    queries: list[str] = []
    lock = threading.Lock()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        with lock:
            queries.append(statement)

    engines = {server.ctx.db.write_engine.sync_engine}
    read_engine = getattr(server.ctx.db, "read_engine", None)
    if read_engine is not None:
        engines.add(read_engine.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for _ in range(30):
                assert client.get(f"/{page.slug}").status_code == 200
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    # The version memo lasts a second: at most a lookup or two, never one per request.
    page_reads = [q for q in queries if "status_pages" in q]
    assert len(page_reads) <= 3, page_reads


def test_after_a_write_every_resource_of_the_new_version_renders_from_one_snapshot_read(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One snapshot read per version, and one read of its history (which the HTML pages do not
    need) for every resource that shows it."""
    reads = {"snapshot": 0, "history": 0}

    async def load_snapshot(*args: Any, history: bool = True) -> Any:
        reads["snapshot"] += 1
        reads["history"] += history
        return await snapshot.load_snapshot(*args, history=history)

    async def load_history(*args: Any) -> Any:
        reads["history"] += 1
        return await snapshot.load_history(*args)

    monkeypatch.setattr(routes, "load_snapshot", load_snapshot)
    monkeypatch.setattr(routes, "load_history", load_history)
    component = next(iter(page.components.values()))
    publish(sdk, page.id, "Shared snapshot", "Looking.", {component: "degraded_performance"})
    paths = [
        f"/{page.slug}",
        f"/{page.slug}/api/v2/summary.json",
        f"/{page.slug}/api/v2/status.json",
        f"/{page.slug}/feed.atom",
    ]

    async def fetch_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            return list(await asyncio.gather(*(client.get(p) for p in paths)))

    responses = asyncio.run(fetch_all())
    assert [r.status_code for r in responses] == [200] * len(paths)
    assert all("Shared snapshot" in r.text for r in responses if "status.json" not in r.url.path)
    assert reads == {"snapshot": 1, "history": 1}
    # Sequential requests of other resources of the same version read nothing more.
    assert get(server, f"/{page.slug}/feed.rss").status_code == 200
    assert get(server, f"/{page.slug}/history").status_code == 200
    assert reads == {"snapshot": 1, "history": 1}
    publish(sdk, page.id, "Another one", "Looking.", {component: "partial_outage"})
    assert "Another one" in get(server, f"/{page.slug}").text
    assert reads == {"snapshot": 2, "history": 1}
    assert "Another one" in get(server, f"/{page.slug}/api/v2/summary.json").text
    assert reads == {"snapshot": 2, "history": 2}


class _Writes:
    """Stands for ``Database`` in ``VersionMemo``: counts committed page changes."""

    page_changes = 0


def test_concurrent_lookups_of_an_expired_page_version_send_one_query() -> None:
    writes = _Writes()
    memo = VersionMemo(ttl=60, db=writes)  # type: ignore[arg-type]
    loads = [0]

    async def load() -> list[PageRef]:
        loads[0] += 1
        number = loads[0]
        await asyncio.sleep(0.02)
        return [PageRef("p", "acme", number, None)]

    async def scenario() -> None:
        found = await asyncio.gather(*(memo.lookup(("acme", ""), load) for _ in range(50)))
        assert loads[0] == 1 and {refs[0].version for refs in found} == {1}
        # A write made meanwhile: lookups that start after it never take the older answer.
        first = asyncio.ensure_future(memo.lookup(("other", ""), load))
        await asyncio.sleep(0)
        writes.page_changes += 1
        second = await memo.lookup(("other", ""), load)
        assert (await first)[0].version == 2 and second[0].version == 3
        assert (await memo.lookup(("other", ""), load))[0].version == 3  # memoised
        assert loads[0] == 3

    asyncio.run(scenario())


def test_cached_bytes_are_rendered_again_after_a_write_a_new_utc_day_and_a_cleared_cache(
    tmp_path: object,
) -> None:
    from datetime import timedelta

    from tests.harness import fresh_database, live_server
    from tests.public.test_page import make_display_page

    with fresh_database(str(tmp_path)) as url, live_server(url) as fresh:
        slug, _ = make_display_page(fresh)
        path = f"/{slug}"
        first = get(fresh, path)
        renders = _renders(fresh)
        second, third = get(fresh, path), get(fresh, path)
        assert _renders(fresh) == renders
        _same_answer(first, second)
        _same_answer(first, third)
        assert get(fresh, path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304

        # A new UTC day: the page's bytes depend on it, so they are rendered again.
        fresh.clock.offset = timedelta(days=1)
        tomorrow = get(fresh, path)
        assert _renders(fresh) == renders + 1
        assert tomorrow.headers["etag"] != first.headers["etag"]
        assert get(fresh, path).headers["etag"] == tomorrow.headers["etag"]
        assert _renders(fresh) == renders + 1

        _clear_cache(fresh)
        get(fresh, path)
        assert _renders(fresh) == renders + 2

        # A write made by this process shows on the next request.
        async def rename(ctx: AppContext) -> None:
            from sqlalchemy import update

            from clarion.status_pages.models import StatusPage
            from clarion.status_pages.service import page_by_slug
            from clarion.status_pages.versions import touch_page

            async with ctx.db.write() as session:
                found = await page_by_slug(session, slug)
                assert found is not None
                await session.execute(
                    update(StatusPage).where(StatusPage.id == found.id).values(name="Renamed page")
                )
                touch_page(session, found.id, ctx.clock.now())

        fresh.call(rename)
        renamed = get(fresh, path)
        assert "Renamed page" in renamed.text and _renders(fresh) == renders + 3


def test_an_identity_answer_never_compresses_and_a_gzip_answer_compresses_once(
    server: LiveServer, page: PageInfo
) -> None:
    async def gzip_memos(_ctx: AppContext) -> list[bool]:
        return ["gzip" in value.memo for value in server.site.cache]

    _clear_cache(server)
    for _ in range(3):
        assert get(server, f"/{page.slug}", headers={"Accept-Encoding": "identity"}).is_success
    assert server.call(gzip_memos) == [False]
    for _ in range(3):
        zipped = get(server, f"/{page.slug}", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
    assert server.call(gzip_memos) == [True]


def test_bundled_assets_are_answered_like_cached_pages_gzipped_with_an_etag(
    server: LiveServer, page: PageInfo
) -> None:
    """A spike of new readers asks for the stylesheet and script with every page: they are
    answered like cached pages (gzip, ETag, 304)."""
    css = (STATIC_DIR / "clarion.css").read_bytes()
    for path in (f"/{page.slug}/static/clarion.css", "/static/clarion.css"):
        for headers in ({"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip"}):
            answers = [get(server, path, headers=headers) for _ in range(3)]
            for answer in answers[1:]:
                _same_answer(answers[0], answer)
            assert answers[0].status_code == 200 and answers[0].content == css  # httpx decodes
            gzipped = headers["Accept-Encoding"] == "gzip"
            assert (answers[0].headers.get("content-encoding") == "gzip") == gzipped
            assert answers[0].headers["cache-control"] == "public, max-age=3600"
            assert answers[0].headers["content-type"] == "text/css; charset=utf-8"
            etag = answers[0].headers["etag"]
            for source in (path, path + "?v=1"):
                again = get(server, source, headers={**headers, "If-None-Match": etag})
                assert again.status_code == 304 and again.headers["etag"] == etag
    # Under a slug that names no page, or a name that is not an asset: 404, as before.
    assert get(server, "/no-such-page/static/clarion.css").status_code == 404
    assert get(server, f"/{page.slug}/static/nothing.css").status_code == 404
