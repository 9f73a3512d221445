"""The render cache: ETag/304, CDN headers, invalidation by writes, and single-flight renders."""

from __future__ import annotations

import asyncio
import gzip
import threading

import httpx
import pytest
from incident_io import AuthenticatedClient

from clarion.context import AppContext
from clarion.lru import MIB
from clarion.public.cache import (
    CacheKey,
    RenderCache,
    Rendered,
    _etag_of,
    etag_matches,
    gzip_etag,
)
from tests.factories import PageInfo
from tests.harness import LiveServer
from tests.public.test_page import get, post_update, publish


def test_every_page_response_has_an_etag_and_cdn_friendly_cache_control(
    server: LiveServer, page: PageInfo
) -> None:
    for path in (f"/{page.slug}", f"/{page.slug}/history"):
        response = get(server, path)
        assert response.status_code == 200
        assert response.headers["etag"].startswith('"')
        control = response.headers["cache-control"]
        assert "public" in control and "max-age=" in control
        assert "stale-while-revalidate=" in control
        assert response.headers["vary"] == "Accept-Encoding"


def test_if_none_match_gives_304_without_a_body(server: LiveServer, page: PageInfo) -> None:
    first = get(server, f"/{page.slug}")
    etag = first.headers["etag"]
    again = get(server, f"/{page.slug}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = get(server, f"/{page.slug}", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    assert get(server, f"/{page.slug}", headers={"If-None-Match": '"nope"'}).status_code == 200


def test_a_write_through_the_api_shows_on_the_next_request(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    before = get(server, f"/{page.slug}")
    assert "Database failover" not in before.text
    component = next(iter(page.components.values()))
    incident_id = publish(
        sdk, page.id, "Database failover", "Failing over.", {component: "partial_outage"}
    )
    after = get(server, f"/{page.slug}", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert "Database failover" in after.text
    assert after.headers["etag"] != before.headers["etag"]
    post_update(sdk, incident_id, "Done.")
    resolved = get(server, f"/{page.slug}", headers={"If-None-Match": after.headers["etag"]})
    assert resolved.status_code == 200
    assert "All systems operational" in resolved.text


def test_gzip_is_offered_as_its_own_representation(server: LiveServer, page: PageInfo) -> None:
    plain = get(server, f"/{page.slug}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = httpx.get(
        f"{server.base_url}/{page.slug}", headers={"Accept-Encoding": "gzip"}, timeout=30
    )
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["etag"] == gzip_etag(plain.headers["etag"])
    assert raw.text == plain.text  # httpx decodes it
    assert len(gzip.compress(plain.content)) < len(plain.content)
    not_modified = get(
        server,
        f"/{page.slug}",
        headers={"Accept-Encoding": "gzip", "If-None-Match": raw.headers["etag"]},
    )
    assert not_modified.status_code == 304


def test_head_answers_headers_only(server: LiveServer, page: PageInfo) -> None:
    response = httpx.head(f"{server.base_url}/{page.slug}", timeout=30)
    assert response.status_code == 200
    assert response.content == b""
    assert "etag" in response.headers


def test_concurrent_misses_after_a_write_render_the_page_once(
    server: LiveServer, sdk: AuthenticatedClient, page: PageInfo
) -> None:
    get(server, f"/{page.slug}")
    publish(sdk, page.id, "Cache stampede", "Many readers at once.", {})

    before = server.site.cache.renders
    barrier = threading.Barrier(24)
    bodies: list[str] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with httpx.Client(timeout=30) as client:
                barrier.wait()
                response = client.get(f"{server.base_url}/{page.slug}")
                assert response.status_code == 200
                bodies.append(response.text)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(bodies) == 24 and all("Cache stampede" in b for b in bodies)
    assert len(set(bodies)) == 1
    assert server.site.cache.renders - before == 1


# -- the cache on its own ----------------------------------------------------------------


def _rendered(text: str, key: CacheKey) -> Rendered:
    return Rendered.build(text.encode(), "text/plain", key.etag)


async def test_the_cache_renders_once_for_concurrent_callers_and_then_serves_the_copy() -> None:
    cache = RenderCache()
    key = CacheKey("page", 1, "/")
    started = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def render() -> Rendered:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return _rendered("hello", key)

    waiters = [asyncio.create_task(cache.get_or_render(key, render)) for _ in range(50)]
    await started.wait()
    await asyncio.sleep(0.01)
    assert calls == 1
    release.set()
    results = await asyncio.gather(*waiters)
    assert {r.body for r in results} == {b"hello"}
    assert (await cache.get_or_render(key, render)).body == b"hello"
    assert calls == 1 and cache.renders == 1


async def test_a_failed_render_reaches_every_waiter_and_is_not_cached() -> None:
    cache = RenderCache()
    key = CacheKey("page", 1, "/")
    attempts = 0

    async def broken() -> Rendered:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("database went away")

    results = await asyncio.gather(
        *(cache.get_or_render(key, broken) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert attempts == 1

    async def ok() -> Rendered:
        return _rendered("fine", key)

    assert (await cache.get_or_render(key, ok)).body == b"fine"


async def test_a_caller_going_away_does_not_cancel_the_render_for_others() -> None:
    cache = RenderCache()
    key = CacheKey("page", 1, "/")
    release = asyncio.Event()

    async def slow() -> Rendered:
        await release.wait()
        return _rendered("done", key)

    impatient = asyncio.create_task(cache.get_or_render(key, slow))
    patient = asyncio.create_task(cache.get_or_render(key, slow))
    await asyncio.sleep(0.01)
    impatient.cancel()
    release.set()
    assert (await patient).body == b"done"
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_a_newer_version_drops_older_ones_and_an_old_render_never_displaces_it() -> None:
    cache = RenderCache()
    v1, v2 = CacheKey("p", 1, "/"), CacheKey("p", 2, "/")
    other = CacheKey("q", 1, "/")

    async def make(key: CacheKey) -> Rendered:
        return _rendered(str(key.version), key)

    await cache.get_or_render(v1, lambda: make(v1))
    await cache.get_or_render(other, lambda: make(other))
    await cache.get_or_render(v2, lambda: make(v2))
    assert cache.peek(v1) is None and cache.peek(v2) is not None
    assert cache.peek(other) is not None
    await cache.get_or_render(v1, lambda: make(v1))  # a late reader of the old version
    assert cache.peek(v1) is None


async def test_the_cache_is_bounded() -> None:
    cache = RenderCache(max_entries=3)
    for n in range(10):
        key = CacheKey(f"p{n}", 1, "/")
        await cache.get_or_render(key, lambda key=key: asyncio.sleep(0, _rendered("x", key)))
    assert len(cache) == 3


async def test_the_cache_holds_at_most_its_budget_of_bytes_the_newest_renders_kept() -> None:
    cache = RenderCache(max_entries=1000, max_bytes=100_000)
    body = "x" * 10_000  # counted as about 20 kB: its identity and gzip variants
    keys = [CacheKey(f"p{n}", 1, "/") for n in range(20)]
    for key in keys:
        await cache.get_or_render(key, lambda key=key: asyncio.sleep(0, _rendered(body, key)))
    assert cache.held_bytes <= 100_000
    assert len(cache) == 4
    assert all(cache.peek(key) is not None for key in keys[-4:])
    assert cache.peek(keys[0]) is None


async def test_last_good_renders_hold_at_most_a_quarter_of_the_budget_more() -> None:
    cache = RenderCache(max_entries=1000, max_bytes=200_000)
    body = "x" * 10_000
    for n in range(30):  # every incident page a reader ever opened, say
        key = CacheKey("p", 1, f"incidents/{n}")
        await cache.get_or_render(key, lambda key=key: asyncio.sleep(0, _rendered(body, key)))
    assert cache.last_good_bytes <= 50_000
    newest = CacheKey("p", 2, "incidents/29")
    assert cache.last_good(newest) is not None
    assert cache.last_good(CacheKey("p", 2, "incidents/0")) is None


async def test_a_render_larger_than_the_budget_is_answered_but_not_kept() -> None:
    cache = RenderCache(max_entries=1000, max_bytes=10_000)
    key = CacheKey("p", 1, "/")
    huge = _rendered("x" * 20_000, key)
    assert await cache.get_or_render(key, lambda: asyncio.sleep(0, huge)) is huge
    assert cache.peek(key) is None and cache.held_bytes == 0


def test_etags_of_any_paths_asked_for_are_memoised_within_a_budget() -> None:
    for n in range(3000):
        assert CacheKey("p", 1, f"s:{n}/" + "x" * 2000).etag.startswith('"')
    assert _etag_of.store.held_bytes <= _etag_of.store.max_bytes
    assert len(_etag_of.store) < 3000


def test_the_running_caches_have_the_budgets_their_settings_give(server: LiveServer) -> None:
    settings = server.settings
    assert server.site.cache.max_bytes == settings.public_cache_mb * MIB
    assert server.ctx.list_cache.max_bytes == settings.api_list_cache_mb * MIB


def test_etags_depend_on_page_version_path_and_extra() -> None:
    base = CacheKey("p", 1, "/", "2026-01-01")
    variants = [
        CacheKey("q", 1, "/", "2026-01-01"),
        CacheKey("p", 2, "/", "2026-01-01"),
        CacheKey("p", 1, "/history", "2026-01-01"),
        CacheKey("p", 1, "/", "2026-01-02"),
    ]
    assert len({base.etag, *(v.etag for v in variants)}) == 5
    assert base.etag == CacheKey("p", 1, "/", "2026-01-01").etag
    assert etag_matches(f"W/{base.etag}", base.etag)
    assert etag_matches("*", base.etag)
    assert not etag_matches(None, base.etag)


# -- the page version memo ---------------------------------------------------------------


class _Writes:
    """Stands for ``Database`` in ``VersionMemo``: counts committed page changes."""

    page_changes = 0


async def test_the_version_memo_answers_from_memory_until_a_local_write() -> None:
    from clarion.public.versions import PageRef, VersionMemo

    writes = _Writes()
    memo = VersionMemo(ttl=60, db=writes)  # type: ignore[arg-type]
    loads = 0
    version = 1

    async def load() -> list[PageRef]:
        nonlocal loads
        loads += 1
        return [PageRef("p", "acme", version, None)]

    assert (await memo.lookup(("acme", ""), load))[0].version == 1
    assert (await memo.lookup(("acme", ""), load))[0].version == 1
    assert loads == 1
    version = 2
    writes.page_changes += 1
    assert (await memo.lookup(("acme", ""), load))[0].version == 2
    assert loads == 2


async def test_a_lookup_racing_a_write_is_not_remembered() -> None:
    from clarion.public.versions import PageRef, VersionMemo

    writes = _Writes()
    memo = VersionMemo(ttl=60, db=writes)  # type: ignore[arg-type]

    async def stale_then_write() -> list[PageRef]:
        writes.page_changes += 1  # a write commits while this lookup's query is in flight
        return [PageRef("p", "acme", 1, None)]

    await memo.lookup(("acme", ""), stale_then_write)

    async def fresh() -> list[PageRef]:
        return [PageRef("p", "acme", 2, None)]

    assert (await memo.lookup(("acme", ""), fresh))[0].version == 2


def test_page_changes_count_committed_writes_that_touched_a_page_and_nothing_else(
    server: LiveServer, page: PageInfo
) -> None:
    from sqlalchemy import select

    from clarion.status_pages.models import StatusPage
    from clarion.status_pages.versions import touch_page

    class Refused(Exception):
        pass

    async def body(ctx: AppContext) -> list[int]:
        db = ctx.db
        seen = [db.page_changes]
        async with db.read() as session:
            await session.execute(select(StatusPage.id))
        async with db.write() as session:  # a write that changes no page
            await session.execute(select(StatusPage.id))
        seen.append(db.page_changes)
        try:
            async with db.write() as session:
                touch_page(session, page.id, ctx.clock.now())
                raise Refused
        except Refused:
            pass
        seen.append(db.page_changes)  # rolled back: nothing changed
        async with db.write() as session:
            touch_page(session, page.id, ctx.clock.now())
            seen.append(db.page_changes)  # not before the transaction is over
        seen.append(db.page_changes)
        return seen

    start, *rest = server.call(body)
    assert rest == [start, start, start, start + 1]


def test_registered_resources_share_the_cache_headers_and_304(
    server: LiveServer, page: PageInfo
) -> None:
    path = f"/{page.slug}/api/v2/summary.json"
    first = get(server, path)
    assert first.status_code == 200
    assert "max-age=" in first.headers["cache-control"]
    again = get(server, path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == "*"  # the resource's own headers
    assert first.headers["etag"] != get(server, f"/{page.slug}").headers["etag"]


def test_the_page_is_rendered_again_on_a_new_utc_day_but_day_free_resources_are_not(
    tmp_path: object,
) -> None:
    from datetime import timedelta

    from tests.harness import fresh_database, live_server
    from tests.public.test_page import make_display_page

    with fresh_database(str(tmp_path)) as url, live_server(url) as fresh:
        slug, _ = make_display_page(fresh)
        page_tag = get(fresh, f"/{slug}").headers["etag"]
        json_tag = get(fresh, f"/{slug}/api/v2/components.json").headers["etag"]
        fresh.clock.offset = timedelta(days=1)
        tomorrow = get(fresh, f"/{slug}", headers={"If-None-Match": page_tag})
        assert tomorrow.status_code == 200 and tomorrow.headers["etag"] != page_tag
        same = get(fresh, f"/{slug}/api/v2/components.json", headers={"If-None-Match": json_tag})
        assert same.status_code == 304
