"""Checks applied to every API response the conformance tests see.

``check_response`` is the one entry point: no ``null`` anywhere in a JSON body, every timestamp
carries an offset, and every non-2xx body is a complete incident.io ``ErrorResponse``. The
``sdk`` fixture runs it on each response the official SDK receives (an httpx event hook), and
``Raw`` runs it on each raw HTTP call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

#: A whole string that looks like an ISO date-time, with or without an offset (group
#: ``offset``); a year of fewer than four digits matches, so that it fails the parse.
_DATETIME = re.compile(
    r"^\d{1,4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?$"
)
ERROR_REQUIRED_KEYS = {"type", "status", "request_id", "errors"}


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (JSON path, value) in a decoded JSON document, depth first."""
    yield path or "/", value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, f"{path}/{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, f"{path}/{index}")


def assert_no_nulls(body: Any) -> None:
    nulls = [path for path, value in walk(body) if value is None]
    assert not nulls, f"null at {nulls}"


def assert_timestamps_have_offsets(body: Any) -> None:
    for path, value in walk(body):
        match = _DATETIME.match(value) if isinstance(value, str) else None
        if match:
            assert match["offset"], f"timestamp without offset at {path}: {value}"
            assert datetime.fromisoformat(value).tzinfo is not None


def assert_error_envelope(body: Any, status: int) -> None:
    """The ``ErrorResponse`` shape the SDK parses: every required key, ``source`` complete."""
    assert isinstance(body, dict), body
    missing = ERROR_REQUIRED_KEYS - set(body)
    assert not missing, f"error body lacks {missing}: {body}"
    assert body["status"] == status, body
    assert isinstance(body["type"], str) and body["type"], body
    assert isinstance(body["request_id"], str) and body["request_id"], body
    assert isinstance(body["errors"], list) and body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["code"], str) and error["code"], error
        assert isinstance(error["message"], str) and error["message"], error
        if "source" in error:
            assert set(error["source"]) >= {"field", "pointer"}, error
            assert error["source"]["pointer"].startswith("/"), error
    if "rate_limit" in body:
        assert set(body["rate_limit"]) >= {"name", "limit", "remaining", "retry_after"}


def check_response(response: httpx.Response) -> None:
    """Every convention that holds for any response of the API (body must be read)."""
    if response.status_code == 204 or not response.content:
        assert response.status_code < 400, f"{response.status_code} with an empty body"
        return
    if "json" not in response.headers.get("content-type", ""):
        assert response.status_code < 400, f"error {response.status_code} is not JSON"
        return
    body = response.json()
    assert_no_nulls(body)
    assert_timestamps_have_offsets(body)
    if response.status_code >= 400:
        assert_error_envelope(body, response.status_code)
        assert response.headers.get("x-request-id") == body["request_id"]


def _hook(response: httpx.Response) -> Any:
    """An httpx response hook for sync and async clients alike (async ones await the result)."""
    if isinstance(response.stream, httpx.SyncByteStream):
        response.read()
        check_response(response)
        return None

    async def check_async() -> None:
        await response.aread()
        check_response(response)

    return check_async()


#: ``httpx_args`` for ``AuthenticatedClient``: check every response the SDK receives.
SDK_HTTPX_ARGS: dict[str, Any] = {"event_hooks": {"response": [_hook]}}


class Raw:
    """Raw HTTP against the live server with a bearer token; every response is checked."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(
            base_url=base_url, headers=headers, timeout=30, event_hooks={"response": [_hook]}
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.put(path, **kwargs)

    def close(self) -> None:
        self.client.close()


def error_codes(response: httpx.Response) -> list[tuple[str, str | None, str | None]]:
    """``(code, source.field, source.pointer)`` of each error in the body."""
    return [
        (e["code"], e.get("source", {}).get("field"), e.get("source", {}).get("pointer"))
        for e in response.json()["errors"]
    ]
