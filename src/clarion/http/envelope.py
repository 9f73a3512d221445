"""The ONE place errors become HTTP answers: incident.io ``ErrorResponse`` bodies.

Every non-2xx response Clarion sends goes through ``error_response``: our own errors, unknown
routes, wrong methods, malformed or oversized bodies, validation failures, an unready or
unavailable database (down, locked past the lock timeout, read-only, full: a 503, see
``db.faults``) and crashes. The one exception to the JSON body is the public site's "not
found" page, which a browser gets as HTML (``NotFound.page``).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from clarion.db.faults import log_unavailable, unavailable
from clarion.errors import (
    ClarionError,
    ErrorDetail,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
)
from clarion.http.json import json_response
from clarion.http.validation import details_from_pydantic
from clarion.timeutil import format_ts

log = logging.getLogger("clarion.http")

TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "resource_forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "invalid_request_error",
    422: "validation_error",
    429: "too_many_requests",
    500: "api_error",
    503: "service_unavailable",
}
#: How long a browser or CDN may keep the public site's "not found" page.
NOT_FOUND_PAGE_CACHE_CONTROL = "public, max-age=10"


def request_id_of(scope: Scope) -> str:
    """The id of this request, made on first use and kept in the ASGI scope: a random
    (version 4) UUID. Ids need to be unique, not unguessable, so they come from the process's
    pseudo-random generator rather than from the operating system (a system call a request)."""
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = str(uuid.UUID(int=random.getrandbits(128), version=4))
        state["request_id"] = rid
    return str(rid)


def envelope(
    status: int, type_: str, details: tuple[ErrorDetail, ...] | list[ErrorDetail], request_id: str
) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    for d in details:
        item: dict[str, Any] = {"code": d.code, "message": d.message}
        if d.field is not None:
            item["source"] = {"field": d.field, "pointer": d.pointer or "/" + d.field}
        if d.metadata:
            item["metadata"] = d.metadata
        errors.append(item)
    return {"type": type_, "status": status, "request_id": request_id, "errors": errors}


def _wants_html(scope: Scope) -> bool:
    """Whether the client reads HTML (browsers); every other client gets the JSON envelope."""
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value
    return False


def error_response(scope: Scope, error: ClarionError) -> Response:
    """The answer for ``error`` to the request of ``scope``."""
    rid = request_id_of(scope)
    headers = {"X-Request-Id": rid}
    if isinstance(error, NotFound) and error.page is not None and _wants_html(scope):
        headers["Cache-Control"] = NOT_FOUND_PAGE_CACHE_CONTROL
        return Response(error.page, 404, headers, "text/html; charset=utf-8")
    body = envelope(error.status, error.type, error.details, rid)
    if isinstance(error, RateLimited):
        info = error.info
        body["rate_limit"] = {
            "name": info.name,
            "limit": info.limit,
            "remaining": info.remaining,
            "retry_after": format_ts(info.retry_after).replace(".000000Z", "Z"),
        }
        headers["Retry-After"] = str(info.retry_after_seconds)
        headers.update(info.headers)
    if isinstance(error, MethodNotAllowed) and error.allow:
        headers["Allow"] = error.allow
    return json_response(body, status_code=error.status, headers=headers)


def _generic(status: int, message: str) -> ClarionError:
    error = ClarionError(ErrorDetail(TYPES_BY_STATUS.get(status, "api_error"), message))
    error.status = status if status in TYPES_BY_STATUS else 500
    error.type = TYPES_BY_STATUS.get(error.status, "api_error")
    return error


def crash_response(scope: Scope) -> Response:
    """The 500 for an unexpected exception, logged once with its traceback (call while
    handling it)."""
    log.exception("unhandled error request_id=%s", request_id_of(scope))
    return error_response(
        scope, _generic(500, "Something went wrong on our side; it has been logged")
    )


def http_error(exc: StarletteHTTPException, max_body_bytes: int) -> ClarionError:
    """The error for one of the framework's own HTTP exceptions."""
    if exc.status_code == 404:
        return NotFound("No route matches this path")
    if exc.status_code == 405:
        return MethodNotAllowed((exc.headers or {}).get("Allow"))
    if exc.status_code == 400:
        # FastAPI's "There was an error parsing the body" (e.g. JSON nested too deeply).
        return InvalidRequest("The request body is not valid JSON", "invalid_json")
    if exc.status_code == 413:
        return PayloadTooLarge(max_body_bytes)
    return _generic(exc.status_code, str(exc.detail))


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    """Route every kind of failure the framework sees through ``error_response``."""

    async def on_clarion_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ClarionError)
        return error_response(request.scope, exc)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(request.scope, http_error(exc, max_body_bytes))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(request.scope, details_from_pydantic(exc.errors()))

    async def on_database_error(request: Request, exc: Exception) -> Response:
        error = unavailable(exc)
        if error is None:
            return crash_response(request.scope)
        log_unavailable(exc, request_id_of(request.scope))
        return error_response(request.scope, error)

    async def on_crash(request: Request, exc: Exception) -> Response:
        # Only what escapes every layer of the app gets here (a crash inside a middleware
        # added outside Clarion's own); the server then closes the connection, so say so.
        response = crash_response(request.scope)
        response.headers["Connection"] = "close"
        return response

    app.add_exception_handler(ClarionError, on_clarion_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    # The database unavailable (down, locked, timed out, full, read-only): a 503, not a crash.
    app.add_exception_handler(SQLAlchemyError, on_database_error)
    app.add_exception_handler(sqlite3.OperationalError, on_database_error)
    app.add_exception_handler(Exception, on_crash)
