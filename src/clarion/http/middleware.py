"""Pure ASGI middleware: request ids, body size limit, and headers set during the request."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.errors import (
    ClarionError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from clarion.http.envelope import error_response, request_id_of

log = logging.getLogger("clarion.http")


#: A JSON ``\\u0000`` escape whose backslash is not itself escaped.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL_MESSAGE = "must not contain NUL (U+0000) characters"


def nul_problem(scope: Scope, body: bytes | None) -> ClarionError | None:
    """The error for a NUL character in the path, the query or a JSON body, if any.

    PostgreSQL cannot store NUL in text, so such input would fail deep in a query; refusing
    it here gives the same answer on every backend.
    """
    if "\x00" in scope.get("path", ""):
        return NotFound("No route matches this path")
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" in query or "\x00" in query:
        for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
            if "\x00" in name or "\x00" in value:
                return ValidationFailed.at("invalid_value", f"{name} {_NUL_MESSAGE}", name)
    if body and _JSON_NUL.search(body):
        return InvalidRequest(f"Text in the request body {_NUL_MESSAGE}", code="invalid_value")
    return None


def may_be_json(scope: Scope) -> bool:
    """JSON, or no content type at all (the API parses such bodies as JSON too)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return True


def replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives the already read ``body`` first, then what ``receive`` gives."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _TooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that body parsers let it through."""

    def __init__(self) -> None:
        super().__init__(413)


def finish_headers(headers: list[tuple[bytes, bytes]], scope: Scope) -> list[tuple[bytes, bytes]]:
    """``headers`` with what every API response leaves with appended: ``X-Request-Id`` and the
    headers set during the request (``state["response_headers"]``: the rate limit's), each
    unless already there (error responses carry the id, a 429 the rate-limit headers)."""
    if not any(name.lower() == b"x-request-id" for name, _ in headers):
        headers.append((b"x-request-id", request_id_of(scope).encode()))
    present = {name.lower() for name, _ in headers}
    for key, value in scope["state"].get("response_headers", {}).items():
        if key.lower().encode() not in present:
            headers.append((key.lower().encode(), value.encode()))
    return headers


class ApiMiddleware:
    """Adds ``X-Request-Id`` and any ``state["response_headers"]`` to every response, and
    answers 413 (the error envelope) for bodies over ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id_of(scope)  # made now, so that every answer to this request carries one id
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await error_response(scope, PayloadTooLarge(limit))(scope, receive, send)
                    return

        problem = nul_problem(scope, None)
        if problem is not None:
            await error_response(scope, problem)(scope, receive, send)
            return

        received = 0

        if may_be_json(scope) and scope.get("method") in ("POST", "PUT", "PATCH"):
            # JSON bodies are small (``max_body_bytes``): read them whole to refuse NULs.
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                received += len(chunks[-1])
                if received > limit:
                    await error_response(scope, PayloadTooLarge(limit))(scope, receive, send)
                    return
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            problem = nul_problem(scope, body)
            if problem is not None:
                await error_response(scope, problem)(scope, receive, send)
                return
            receive = replaying(body, receive)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = finish_headers(list(message.get("headers", [])), scope)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge:
            if started:
                raise
            await error_response(scope, PayloadTooLarge(limit))(scope, receive, send_with_headers)
