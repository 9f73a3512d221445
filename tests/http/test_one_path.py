"""Every request takes one path through the framework: a middleware added to the app with
``app.add_middleware`` sees every kind of answer Clarion gives (public pages cached or not, 304s,
assets, the incident list cached or not, creates and their replays, every error, crashes), and
an error answer, a crash included, leaves a keep-alive connection usable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.app import create_app
from tests.factories import PageInfo, make_key
from tests.harness import LiveServer, free_port, serve_in_thread
from tests.raw_http import RawConnection, request

STAMP = (b"x-test-stamp", b"seen")


class Stamp:
    """What an operator's middleware (security headers, metrics, access logs) does: it adds a
    header to every answer that passes through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], STAMP]}
            await send(message)

        await self.app(scope, receive, stamped)


@pytest.fixture(scope="module")
def stamped(server: LiveServer) -> Iterator[str]:
    """Clarion's app with ``Stamp`` added and one test-only route that crashes, on the shared
    server's database, served as ``clarion serve`` serves it."""
    app: FastAPI = create_app(server.settings, context=server.ctx, run_worker=False)
    app.add_middleware(Stamp)

    async def crash() -> None:
        raise RuntimeError("a test-only fault")

    app.add_api_route(
        "/v2/test_only_crash", crash, methods=["GET", "POST"], include_in_schema=False
    )
    port = free_port()
    with serve_in_thread(lambda: app, server.settings, port):
        yield f"http://127.0.0.1:{port}"


def _incident(page: PageInfo, key: str) -> dict[str, object]:
    return {
        "status_page_id": page.id,
        "name": "Stamped",
        "incident_status": "investigating",
        "message": "Looking into it.",
        "notify_subscribers": False,
        "idempotency_key": key,
    }


def test_a_middleware_added_to_the_app_sees_every_kind_of_answer(
    stamped: str, server: LiveServer, page: PageInfo
) -> None:
    token = make_key(server)
    viewer = make_key(server, "viewer")
    auth = {"Authorization": f"Bearer {token}"}
    listing = f"/v2/status_page_incidents?status_page_id={page.id}"
    key = uuid.uuid4().hex
    seen: dict[str, int] = {}
    with httpx.Client(base_url=stamped, timeout=30) as client:

        def answer(label: str, method: str, path: str, **kwargs: object) -> httpx.Response:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.headers.get(STAMP[0].decode()) == STAMP[1].decode(), label
            assert response.headers.get("x-request-id"), label
            seen[label] = response.status_code
            return response

        first = answer("page, rendered", "GET", f"/{page.slug}")
        answer("page, cached", "GET", f"/{page.slug}")
        answer("page, gzip", "GET", f"/{page.slug}", headers={"Accept-Encoding": "gzip"})
        answer(
            "page, 304", "GET", f"/{page.slug}", headers={"If-None-Match": first.headers["etag"]}
        )
        answer("page, HEAD", "HEAD", f"/{page.slug}")
        answer("summary.json", "GET", f"/{page.slug}/api/v2/summary.json")
        answer("asset", "GET", "/static/clarion.css")
        answer("page 404, browser", "GET", "/no-such-page", headers={"Accept": "text/html"})
        answer("page 404, script", "GET", "/no-such-page")
        answer("page 405", "POST", f"/{page.slug}")
        answer("list, uncached", "GET", listing, headers=auth)
        answer("list, cached", "GET", listing, headers=auth)
        answer(
            "create", "POST", "/v2/status_page_incidents", headers=auth, json=_incident(page, key)
        )
        answer(
            "create, replay",
            "POST",
            "/v2/status_page_incidents",
            headers=auth,
            json=_incident(page, key),
        )
        answer("list after the create", "GET", listing, headers=auth)
        answer("401", "GET", listing)
        answer(
            "403",
            "POST",
            "/v2/status_page_incidents",
            headers={"Authorization": f"Bearer {viewer}"},
            json=_incident(page, "x"),
        )
        answer("422", "POST", "/v2/status_page_incidents", headers=auth, json={})
        answer("404 route", "GET", "/v2/nothing_here", headers=auth)
        answer("405 route", "DELETE", "/v2/status_pages", headers=auth)
        answer(
            "413",
            "POST",
            "/v2/status_page_incidents",
            headers=auth,
            content=b"x" * (server.settings.max_body_bytes + 1),
        )
        answer("500", "GET", "/v2/test_only_crash")
        answer("healthz", "GET", "/healthz")
        answer("openapi", "GET", "/openapi.json")
    assert seen == {
        "page, rendered": 200,
        "page, cached": 200,
        "page, gzip": 200,
        "page, 304": 304,
        "page, HEAD": 200,
        "summary.json": 200,
        "asset": 200,
        "page 404, browser": 404,
        "page 404, script": 404,
        "page 405": 405,
        "list, uncached": 200,
        "list, cached": 200,
        "create": 201,
        "create, replay": 201,
        "list after the create": 200,
        "401": 401,
        "403": 403,
        "422": 422,
        "404 route": 404,
        "405 route": 405,
        "413": 413,
        "500": 500,
        "healthz": 200,
        "openapi": 200,
    }


def test_a_crash_answers_500_and_the_same_connection_serves_the_next_request(
    stamped: str,
) -> None:
    port = int(stamped.rsplit(":", 1)[1])
    connection = RawConnection(port)
    try:
        for _ in range(2):
            connection.send(request("/v2/test_only_crash"))
            crashed = connection.read()
            assert crashed.status_line.startswith(b"HTTP/1.1 500"), crashed.status_line
            assert crashed.header(b"connection") != b"close"
            assert b'"api_error"' in crashed.body
            connection.send(request("/healthz"))
            after = connection.read()
            assert after.status_line.startswith(b"HTTP/1.1 200"), after.status_line
        # A crash on a request with a body, and other errors, keep the connection too.
        body = b'{"a": 1}'
        connection.send(
            request(
                "/v2/test_only_crash",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                method="POST",
            )
            + body
        )
        assert connection.read().status_line.startswith(b"HTTP/1.1 500")
        for path in ("/v2/nothing_here", "/v2/status_pages", "/no-such-page"):
            connection.send(request(path))
            assert connection.read().status_line[9:10] == b"4", path
        connection.send(request("/healthz"))
        assert connection.read().status_line.startswith(b"HTTP/1.1 200")
    finally:
        connection.close()


@pytest.mark.parametrize("size", [1_000, 200_000, 900_000])
def test_an_answer_before_the_body_is_read_leaves_the_connection_usable(
    server: LiveServer, size: int
) -> None:
    """A 401 is answered before the body is read; the rest of the body is read (and dropped)
    first, so the same connection serves the next request."""
    connection = RawConnection(int(server.base_url.rsplit(":", 1)[1]))
    body = b'{"name": "' + b"x" * size + b'"}'
    head = request(
        "/v2/status_page_incidents",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        method="POST",
    )
    try:
        for _ in range(5):
            connection.send(head + body)
            refused = connection.read()
            assert refused.status_line.startswith(b"HTTP/1.1 401"), refused.status_line
            assert refused.header(b"connection") != b"close"
            connection.send(request("/healthz"))
            assert connection.read().status_line.startswith(b"HTTP/1.1 200")
    finally:
        connection.close()


def test_a_body_over_the_limit_is_a_413_that_closes_the_connection(server: LiveServer) -> None:
    """The rest of a body over the limit is not read: the 413 says so, then the server
    closes the connection."""
    connection = RawConnection(int(server.base_url.rsplit(":", 1)[1]))
    size = server.settings.max_body_bytes + 1
    try:
        connection.send(
            request(
                "/v2/status_page_incidents",
                "Content-Type: application/json",
                f"Content-Length: {size}",
                method="POST",
            )
            + b"x" * 1000
        )
        refused = connection.read()
        assert refused.status_line.startswith(b"HTTP/1.1 413"), refused.status_line
        assert refused.header(b"connection") == b"close"
        assert connection.closed_by_server()
    finally:
        connection.close()
