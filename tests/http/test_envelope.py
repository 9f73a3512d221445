"""Every non-2xx response is incident.io's error envelope: unknown routes, wrong methods,
unreadable and oversized bodies, and crashes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from clarion.app import create_app
from tests.contract.checks import Raw, check_response
from tests.factories import PageInfo
from tests.harness import LiveServer, free_port, serve_in_thread


def test_an_unknown_route_is_a_404_envelope_with_or_without_a_key(
    server: LiveServer, raw: Raw
) -> None:
    for client in (raw, Raw(server.base_url)):
        for path in ("/v2/nothing_here", "/v1/nothing", "/v2/status_pages/a/b/c"):
            response = client.get(path)
            assert response.status_code == 404, path
            body = response.json()
            assert body["type"] == "not_found"
            assert body["errors"][0]["code"] == "not_found"


def test_a_trailing_slash_is_not_redirected(raw: Raw) -> None:
    response = raw.get("/v2/status_pages/")
    assert response.status_code in (404, 200)
    assert response.status_code != 307


def test_a_wrong_method_is_a_405_envelope_with_allow(raw: Raw) -> None:
    for method, path in (
        ("DELETE", "/v2/status_pages"),
        ("POST", "/v2/status_pages"),
        ("PATCH", "/v2/status_page_incidents/abc"),
        ("GET", "/v2/status_page_incident_updates"),
    ):
        response = raw.request(method, path)
        assert response.status_code == 405, (method, path)
        body = response.json()
        assert body["type"] == "method_not_allowed"
        assert body["errors"][0]["code"] == "method_not_allowed"
        assert response.headers.get("allow")


def test_malformed_json_is_a_400_invalid_request(raw: Raw) -> None:
    for content in (
        b"{not json",
        b'{"name": "x",}',
        b"\xff\xfe",
        b"",
        b"[" * 50000 + b"]" * 50000,  # nested too deeply for the parser
    ):
        response = raw.post(
            "/v2/status_page_incidents",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, (content, response.text)
        body = response.json()
        assert body["type"] == "invalid_request_error"
        assert body["errors"][0]["code"] == "invalid_json"


def test_a_body_that_is_not_a_json_object_is_a_400(raw: Raw) -> None:
    for value in ([1, 2], "text", 42, None, True):
        response = raw.post("/v2/status_page_incidents", json=value)
        assert response.status_code == 400, (value, response.text)
        assert response.json()["errors"][0]["code"] == "invalid_json"


def test_unknown_body_keys_are_ignored(raw: Raw, page: PageInfo) -> None:
    response = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "n",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
            "severity": "sev1",
        },
    )
    assert response.status_code == 201


def test_an_oversized_body_with_content_length_is_a_413(server: LiveServer, raw: Raw) -> None:
    limit = server.settings.max_body_bytes
    response = raw.post(
        "/v2/status_page_incidents",
        content=b'{"name": "' + b"x" * limit + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    body = response.json()
    assert body["type"] == "payload_too_large"
    assert body["errors"][0]["code"] == "payload_too_large"


def test_an_oversized_chunked_body_without_content_length_is_a_413(
    server: LiveServer, raw: Raw
) -> None:
    limit = server.settings.max_body_bytes
    sent = []

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(limit // 65536 + 2):
            sent.append(1)
            yield b"x" * 65536
        yield b'"}'

    response = raw.post(
        "/v2/status_page_incidents",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["type"] == "payload_too_large"


def test_a_body_just_under_the_limit_is_read(server: LiveServer, raw: Raw) -> None:
    response = raw.post(
        "/v2/status_page_incidents",
        json={"name": "x" * 1000},
    )
    assert response.status_code == 422  # read and validated, not refused for size


@pytest.fixture
def crashing_server(server: LiveServer) -> Iterator[str]:
    """Clarion's app plus one test-only route that raises, served as ``clarion serve`` serves it."""
    app: FastAPI = create_app(server.settings, context=server.ctx, run_worker=False)

    @app.get("/v2/test_only_crash")
    async def crash() -> None:
        raise RuntimeError("secret internal detail")

    port = free_port()
    with serve_in_thread(lambda: app, server.settings, port):
        yield f"http://127.0.0.1:{port}"


def test_an_unexpected_crash_is_a_500_envelope_that_leaks_nothing(
    crashing_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="clarion.http")
    response = httpx.get(crashing_server + "/v2/test_only_crash")
    check_response(response)
    assert response.status_code == 500
    body = response.json()
    assert body["type"] == "api_error"
    assert body["errors"][0]["code"] == "api_error"
    assert "secret internal detail" not in response.text
    assert "debug" not in body
    # The request id in the answer is the one logged with the traceback.
    assert f"request_id={body['request_id']}" in caplog.text
    assert "secret internal detail" in caplog.text
    # The app still answers afterwards.
    assert httpx.get(crashing_server + "/v2/nothing").status_code == 404


def test_nul_characters_are_refused_the_same_way_on_every_backend(raw: Raw, page: PageInfo) -> None:
    query = raw.get("/v2/status_page_incidents", params={"status_page_id": "a\x00b"})
    assert query.status_code == 422
    assert query.json()["errors"][0]["source"] == {
        "field": "status_page_id",
        "pointer": "/status_page_id",
    }
    path = raw.get("/v2/status_page_incidents/a%00b")
    assert path.status_code == 404
    body = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "a\x00b",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert body.status_code == 400
    assert body.json()["type"] == "invalid_request_error"
    # An escaped backslash followed by "u0000" is ordinary text.
    text = raw.post(
        "/v2/status_page_incidents",
        json={
            "status_page_id": page.id,
            "name": "a\\u0000b",
            "incident_status": "investigating",
            "message": "m",
            "notify_subscribers": False,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert text.status_code == 201, text.text
    assert text.json()["status_page_incident"]["name"] == "a\\u0000b"


def test_a_wrong_method_on_a_public_page_is_a_405_envelope_with_allow(
    server: LiveServer, page: PageInfo
) -> None:
    for method, path, allow in (
        ("POST", f"/{page.slug}", "GET, HEAD, OPTIONS"),
        ("DELETE", f"/{page.slug}/incidents/01ABCDEFGHJKMNPQRSTVWXYZ00", "GET, HEAD, OPTIONS"),
        ("PUT", f"/{page.slug}/api/v2/summary.json", "GET, HEAD, OPTIONS"),
        ("OPTIONS", f"/{page.slug}", "GET, HEAD"),
    ):
        response = httpx.request(method, server.base_url + path, content=b"{}")
        check_response(response)
        assert response.status_code == 405, (method, path)
        assert response.json()["errors"][0]["code"] == "method_not_allowed"
        assert response.headers["allow"] == allow
