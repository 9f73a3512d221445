"""The ONE place errors become incident.io ``ErrorResponse`` bodies.

Every non-2xx response Clarion sends goes through ``error_response``: our own errors, unknown
routes, wrong methods, malformed or oversized bodies, validation failures and crashes.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from clarion.errors import ClarionError, ErrorDetail, RateLimited
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
}


def request_id_of(scope: Scope) -> str:
    """The id of this request, made on first use and kept in the ASGI scope."""
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = str(uuid.uuid4())
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


def error_response(scope: Scope, error: ClarionError) -> Response:
    rid = request_id_of(scope)
    body = envelope(error.status, error.type, error.details, rid)
    headers = {"X-Request-Id": rid}
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
    if error.status == 405:
        allow = scope.get("state", {}).get("allow")
        if allow:
            headers["Allow"] = allow
    return json_response(body, status_code=error.status, headers=headers)


def _generic(status: int, message: str) -> ClarionError:
    error = ClarionError(ErrorDetail(TYPES_BY_STATUS.get(status, "api_error"), message))
    error.status = status if status in TYPES_BY_STATUS else 500
    error.type = TYPES_BY_STATUS.get(error.status, "api_error")
    return error


def crash_response(scope: Scope) -> Response:
    """The 500 for an unexpected exception, logged with its traceback (call while handling it)."""
    log.exception("unhandled error request_id=%s", request_id_of(scope))
    return error_response(
        scope, _generic(500, "Something went wrong on our side; it has been logged")
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure through ``error_response``."""

    async def on_clarion_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ClarionError)
        return error_response(request.scope, exc)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        from clarion.errors import MethodNotAllowed, NotFound

        if exc.status_code == 404:
            return error_response(request.scope, NotFound("No route matches this path"))
        if exc.status_code == 405:
            if exc.headers and "Allow" in exc.headers:
                request.scope.setdefault("state", {})["allow"] = exc.headers["Allow"]
            return error_response(request.scope, MethodNotAllowed())
        if exc.status_code == 400:
            # FastAPI's "There was an error parsing the body" (e.g. JSON nested too deeply).
            from clarion.errors import InvalidRequest

            return error_response(
                request.scope, InvalidRequest("The request body is not valid JSON", "invalid_json")
            )
        if exc.status_code == 413:
            from clarion.errors import PayloadTooLarge

            limit = request.app.state.settings.max_body_bytes
            return error_response(request.scope, PayloadTooLarge(limit))
        return error_response(request.scope, _generic(exc.status_code, str(exc.detail)))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(request.scope, details_from_pydantic(exc.errors()))

    async def on_crash(request: Request, exc: Exception) -> Response:
        return crash_response(request.scope)

    app.add_exception_handler(ClarionError, on_clarion_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_crash)
