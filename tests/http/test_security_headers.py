"""Security headers on every answer, one ``Host`` per request, and a body limit that is exact:
over raw HTTP, as a browser or an attacker sends it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError

from clarion.settings import Settings
from tests.factories import PageInfo
from tests.harness import LiveServer, fresh_database, live_server
from tests.raw_http import RawConnection, request

PUBLIC = ("", "/feed.atom", "/feed.rss", "/maintenance.ics", "/badge.svg", "/api/v2/summary.json")


def port_of(server: LiveServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def csp(response: httpx.Response) -> dict[str, str]:
    """The directives of the answer's one ``Content-Security-Policy``."""
    found: dict[str, str] = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            found[name] = value
    return found


def test_every_public_answer_carries_the_security_headers(
    server: LiveServer, page: PageInfo
) -> None:
    paths = [f"/{page.slug}{p}" for p in PUBLIC] + [f"/{page.slug}/no-such-thing", "/static/x"]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for path in paths:
            response = http.get(path)
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
            assert response.headers["x-frame-options"] == "DENY", path
            policy = csp(response)
            assert policy["default-src"] == "'none'", path
            assert policy["frame-ancestors"] == "'none'", path
            assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        # A 304 too.
        first = http.get(f"/{page.slug}")
        again = http.get(f"/{page.slug}", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["x-content-type-options"] == "nosniff"


def test_the_subscription_pages_keep_their_stricter_policy(
    server: LiveServer, page: PageInfo
) -> None:
    response = httpx.get(f"{server.base_url}/{page.slug}/subscribe", timeout=30)
    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "same-origin"
    assert "script-src" not in csp(response)
    assert response.headers.get_list("content-security-policy") == [
        response.headers["content-security-policy"]
    ]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_api_answers_say_nosniff_and_carry_no_page_policy(server: LiveServer, token: str) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for path, auth in (("/v2/status_pages", True), ("/v2/status_pages", False)):
            headers = {"Authorization": f"Bearer {token}"} if auth else {}
            response = http.get(path, headers=headers)
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "content-security-policy" not in response.headers
        assert http.get("/openapi.json").headers["x-content-type-options"] == "nosniff"
        assert http.get("/healthz").headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def embeddable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with (
        fresh_database(str(tmp_path_factory.mktemp("frames"))) as url,
        live_server(url, public_frame_ancestors="'self'  https://intranet.example.com") as srv,
    ):
        yield srv


def test_frame_ancestors_follow_the_setting(embeddable: LiveServer) -> None:
    from tests.factories import make_page

    page = make_page(embeddable, components=1)
    response = httpx.get(f"{embeddable.base_url}/{page.slug}", timeout=30)
    assert csp(response)["frame-ancestors"] == "'self' https://intranet.example.com"
    # X-Frame-Options cannot name another site: left out, the CSP decides.
    assert "x-frame-options" not in response.headers


@pytest.mark.parametrize("value", ["", "'none'; script-src *", "https://a.example\nX: y"])
def test_a_frame_ancestors_setting_that_is_not_a_source_list_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="source list"):
        Settings(public_frame_ancestors=value)


@pytest.mark.parametrize("path", ["/healthz", "/v2/status_pages", "/{slug}"])
def test_two_host_headers_are_a_400_envelope(server: LiveServer, page: PageInfo, path: str) -> None:
    connection = RawConnection(port_of(server))
    try:
        connection.send(
            request(path.format(slug=page.slug), "Host: evil.example", "Accept: application/json")
        )
        answer = connection.read()
    finally:
        connection.close()
    assert answer.status_line.startswith(b"HTTP/1.1 400"), answer.status_line
    body = httpx.Response(400, content=answer.body).json()
    assert body["type"] == "invalid_request_error"
    assert body["errors"][0]["code"] == "invalid_host"
    assert body["request_id"] == answer.header(b"x-request-id").decode()  # type: ignore[union-attr]


def json_of_size(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes (an incident without a page: a 422)."""
    head, tail = b'{"name": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize("chunked", [False, True])
def test_the_body_limit_is_exact(server: LiveServer, token: str, chunked: bool) -> None:
    limit = server.settings.max_body_bytes
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(size: int) -> int:
        body = json_of_size(size)

        def pieces() -> Iterator[bytes]:
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        response = httpx.post(
            f"{server.base_url}/v2/status_page_incidents",
            content=pieces() if chunked else body,
            headers=headers,
            timeout=60,
        )
        return response.status_code

    assert send(limit) == 422  # read and validated
    assert send(limit + 1) == 413
