"""Hot public bytes are written from the HTTP parser's callback (``clarion.http.instant``),
byte for byte as uvicorn writes the same answer given through ASGI; everything else takes
uvicorn's ordinary path.

These talk raw HTTP/1.x over a socket, to see the exact bytes, pipelining and connection
handling. Whether an answer came from the parser callback is told by where the hot answer was
looked up (``PublicSite._hot_for``): outside any asyncio task (the protocol callback) or inside
the request's task (ASGI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from clarion.context import AppContext
from clarion.http import instant as instant_module
from clarion.public.routes import PublicSite, site_of
from tests.factories import PageInfo
from tests.harness import LiveServer
from tests.raw_http import RawConnection, Wire, request


@pytest.fixture
def conn(server: LiveServer) -> Iterator[RawConnection]:
    port = urlsplit(server.base_url).port
    assert port is not None
    connection = RawConnection(port)
    yield connection
    connection.close()


@pytest.fixture
def where(server: LiveServer) -> Iterator[list[tuple[bool, bool]]]:
    """(answered outside any task, gave an answer) for every lookup of a hot answer
    (``PublicSite._hot_for``, behind both ``hot_answer`` and ``hot_wire``)."""
    seen: list[tuple[bool, bool]] = []

    async def wrap(ctx: AppContext) -> None:
        site = site_of(ctx)
        original = PublicSite._hot_for.__get__(site)

        def recorded(scope: Any) -> Any:
            answer = original(scope)
            seen.append((asyncio.current_task() is None, answer is not None))
            return answer

        site._hot_for = recorded  # type: ignore[method-assign]
        site.cache.clear()

    async def unwrap(ctx: AppContext) -> None:
        vars(site_of(ctx)).pop("_hot_for", None)

    server.call(wrap)
    yield seen
    server.call(unwrap)


def warm(conn: RawConnection, path: str, *lines: str) -> Wire:
    """Render ``path`` and answer it once from the cache through ASGI (which keeps it hot);
    the second answer, the one an instant answer must equal, is returned."""
    for _ in range(2):
        conn.send(request(path, *lines))
        wire = conn.read()
        assert wire.status_line == b"HTTP/1.1 200 OK\r\n"
    return wire


@pytest.mark.parametrize("encoding", ["identity", "gzip, deflate, br"])
def test_hot_bytes_are_written_from_the_parser_callback_exactly_as_through_asgi(
    server: LiveServer,
    page: PageInfo,
    conn: RawConnection,
    where: list[tuple[bool, bool]],
    encoding: str,
) -> None:
    sizes = []
    for path in (f"/{page.slug}", f"/{page.slug}/api/v2/summary.json"):
        accept = f"Accept-Encoding: {encoding}"
        through_asgi = warm(conn, path, accept)
        assert (True, True) not in where  # both answered through ASGI
        where.clear()

        conn.send(request(path, accept))
        instant = conn.read()
        assert where == [(True, True)]
        assert instant.stable() == through_asgi.stable()
        assert instant.header(b"x-request-id") != through_asgi.header(b"x-request-id")
        assert (instant.header(b"content-encoding") == b"gzip") == ("gzip" in encoding)
        sizes.append(len(instant.body))

        conn.send(request(path, accept, method="HEAD"))
        head = conn.read(b"HEAD")
        assert head.body == b"" and head.stable()[:2] == instant.stable()[:2]

        etag = instant.header(b"etag")
        assert etag is not None
        conn.send(request(path, accept, f"If-None-Match: {etag.decode()}"))
        not_modified = conn.read()
        assert not_modified.status_line == b"HTTP/1.1 304 Not Modified\r\n"
        assert not_modified.body == b"" and not_modified.header(b"etag") == etag
        assert not_modified.header(b"content-length") is None
        assert where[-2:] == [(True, True), (True, True)]
        where.clear()
    if encoding == "identity":  # a body written apart from the head, and one joined to it
        assert min(sizes) < instant_module._JOIN_BELOW <= max(sizes)


def test_pipelined_requests_are_answered_in_order_and_http_1_0_is_closed(
    server: LiveServer, page: PageInfo, conn: RawConnection, where: list[tuple[bool, bool]]
) -> None:
    path = f"/{page.slug}"
    page_answer = warm(conn, path)
    json_answer = warm(conn, f"{path}/api/v2/status.json")
    where.clear()
    conn.send(
        request(path)
        + request(f"{path}/api/v2/status.json")
        + request(path, method="HEAD")
        + request(path)
    )
    answers = [conn.read(), conn.read(), conn.read(b"HEAD"), conn.read()]
    assert [a.stable() for a in answers] == [
        page_answer.stable(),
        json_answer.stable(),
        (page_answer.status_line, page_answer.stable()[1], b""),
        page_answer.stable(),
    ]
    assert where == [(True, True)] * 4

    # HTTP/1.0 without keep-alive: the same answer, marked and followed by the server closing.
    conn.send(request(path, version="1.0"))
    closing = conn.read()
    assert closing.body == page_answer.body
    assert closing.headers[-1] == (b"connection", b"close")
    assert conn.closed_by_server()
    assert where[-1] == (True, True)


def test_requests_the_callback_cannot_answer_exactly_take_uvicorns_path(
    server: LiveServer, page: PageInfo, conn: RawConnection, where: list[tuple[bool, bool]]
) -> None:
    path = f"/{page.slug}"
    expected = warm(conn, path)
    where.clear()
    # A GET with a body: read through ASGI (the app answers the same, from its task).
    conn.send(request(path, "Content-Length: 4") + b"abcd")
    with_body = conn.read()
    assert with_body.stable() == expected.stable()
    assert where == [(False, True)]
    where.clear()
    # A chunked body likewise.
    conn.send(request(path, "Transfer-Encoding: chunked") + b"4\r\nabcd\r\n0\r\n\r\n")
    assert conn.read().stable() == expected.stable()
    assert where == [(False, True)]
    where.clear()
    # A query string: the full path (hot_answer declines it wherever it runs).
    conn.send(request(f"{path}?utm=x"))
    assert conn.read().body == expected.body
    assert all(not answered for _, answered in where)
    where.clear()
    # The connection still serves instant answers afterwards.
    conn.send(request(path))
    assert conn.read().stable() == expected.stable()
    assert where == [(True, True)]


def test_a_failing_instant_answer_falls_back_to_asgi(
    server: LiveServer, page: PageInfo, conn: RawConnection
) -> None:
    path = f"/{page.slug}"
    expected = warm(conn, path)
    calls: list[bool] = []

    async def break_outside_tasks(ctx: AppContext) -> None:
        site = site_of(ctx)
        original = PublicSite._hot_for.__get__(site)

        def failing(scope: Any) -> Any:
            outside = asyncio.current_task() is None
            calls.append(outside)
            if outside:
                raise RuntimeError("boom")
            return original(scope)

        site._hot_for = failing  # type: ignore[method-assign]

    async def restore(ctx: AppContext) -> None:
        vars(site_of(ctx)).pop("_hot_for", None)

    server.call(break_outside_tasks)
    try:
        conn.send(request(path))
        assert conn.read().stable() == expected.stable()
        assert calls == [True, False]
    finally:
        server.call(restore)
