"""``RequestMiddleware``: what every request and every answer goes through, once.

- Every request gets an id (``X-Request-Id`` on every answer, in every error body and in the
  log line of a crash), and every answer carries the headers set while it was handled
  (``state["response_headers"]``: the rate limit's) and the security headers
  (``http.security``: the public site's on its answers, ``nosniff`` on the API's), each
  unless the answer sets it itself.
- A request with more than one ``Host`` header is refused with 400 (the server, the router
  and a proxy could each read a different one).
- A body over ``max_body_bytes`` (declared or actually sent) is refused with 413, which says
  ``connection: close`` (the rest of the body is not read).
- An answer sent before the app has read the whole request body (an authentication error, a
  route that takes no body, a crash) first reads the rest of it, up to ``max_body_bytes``, so
  that the connection stays usable for the client's next request: the HTTP server closes a
  connection whose request body was left unread, without always saying so in the answer.
- NUL characters in the path or the query of a request outside the API are refused here
  (PostgreSQL cannot store them, and the answer must not depend on the backend); the API's
  routes refuse them, and NULs in JSON bodies, once the caller is authenticated
  (``http.auth.ApiRoute``).
- An exception that escapes the app becomes the 500 envelope here, logged once, and the
  connection stays usable for the client's next request. (Starlette's outermost error layer
  answers too, but then re-raises, and the server closes the connection.)
"""

from __future__ import annotations

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
from clarion.http.envelope import crash_response, error_response, request_id_of
from clarion.http.security import (
    API_SECURITY_HEADERS,
    API_SEGMENTS,
    is_api,
    public_security_headers,
)

Headers = tuple[tuple[bytes, bytes], ...]

#: A JSON ``\\u0000`` escape whose backslash is not itself escaped.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL_MESSAGE = "must not contain NUL (U+0000) characters"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: Requests whose body nothing reads (a body sent with one anyway is the server's to skip).
NO_BODY_METHODS = frozenset({"GET", "HEAD"})


def nul_problem(scope: Scope, body: bytes | None) -> ClarionError | None:
    """The error for a NUL character in the path, the query or a JSON body, if any."""
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


def declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` the request declares, when it is one number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class _TooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so that body parsers let it through."""

    def __init__(self) -> None:
        super().__init__(413)


class RequestMiddleware:
    """See the module."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, public_headers: Headers | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.public_headers = public_headers or public_security_headers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id_of(scope)  # made now, so that every answer to this request carries one id
        started = False
        body = _Body(scope, receive, self.max_body_bytes)
        security = API_SECURITY_HEADERS if is_api(scope) else self.public_headers

        async def finishing(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = _finished(list(message["headers"]), scope, security)
                if not body.complete and not await body.read_to_end():
                    headers = [*_without(headers, b"connection"), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        try:
            self._check(scope, body)
            await self.app(scope, body.receive, finishing)
        except ClarionError as error:  # refused before the app saw the request
            await error_response(scope, error)(scope, receive, finishing)
        except _TooLarge:
            if started:
                raise
            too_large = PayloadTooLarge(self.max_body_bytes)
            await error_response(scope, too_large)(scope, receive, finishing)
        except Exception:
            if started:
                raise  # part of the answer is gone: the server closes the connection
            await crash_response(scope)(scope, receive, finishing)

    def _check(self, scope: Scope, body: _Body) -> None:
        """Raises the error for a request whose declared size, ``Host`` (or, outside the API,
        path or query) is refused."""
        if sum(1 for name, _ in scope.get("headers", ()) if name.lower() == b"host") > 1:
            raise InvalidRequest("A request may carry one Host header", code="invalid_host")
        if body.declared_too_large:
            raise PayloadTooLarge(self.max_body_bytes)
        if scope["path"][1:].split("/", 1)[0] not in API_SEGMENTS:
            problem = nul_problem(scope, None)
            if problem is not None:
                raise problem


class _Body:
    """The request's body as the app receives it (``receive``), counted against the limit."""

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.received = 0
        length = declared_length(scope)
        self.declared_too_large = length is not None and length > limit
        #: Whether the whole body has been received (a GET's or a HEAD's has nothing to read).
        self.complete = scope["method"] in NO_BODY_METHODS

    async def receive(self) -> Message:
        """The next message; raises ``_TooLarge`` once more than ``limit`` bytes of body came."""
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise _TooLarge
            self.complete = not message.get("more_body", False)
        else:  # the client is gone
            self.complete = True
        return message

    async def read_to_end(self) -> bool:
        """Read and drop what is left of the body; False if it is too large for that."""
        if self.declared_too_large:
            return False
        try:
            while not self.complete:
                await self.receive()
        except _TooLarge:
            return False
        return True


def _without(headers: list[tuple[bytes, bytes]], name: bytes) -> list[tuple[bytes, bytes]]:
    return [(key, value) for key, value in headers if key.lower() != name]


def _finished(
    headers: list[tuple[bytes, bytes]], scope: Scope, security: Headers
) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``X-Request-Id``, the headers set during the request and the security
    headers appended, each unless already there (error answers carry the id, a 429 the
    rate-limit headers, the subscription pages their own policy)."""
    present = {name.lower() for name, _ in headers}
    if b"x-request-id" not in present:
        headers.append((b"x-request-id", request_id_of(scope).encode()))
    for key, value in scope["state"].get("response_headers", {}).items():
        if key.lower().encode() not in present:
            headers.append((key.lower().encode(), value.encode()))
    headers.extend((name, value) for name, value in security if name not in present)
    return headers
