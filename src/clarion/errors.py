"""The one error hierarchy. Services raise these; ``http/envelope.py`` turns them into
incident.io ``ErrorResponse`` bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of ``errors[]``. ``field``/``pointer`` go together or not at all."""

    code: str
    message: str
    field: str | None = None
    pointer: str | None = None
    metadata: dict[str, str] | None = None


class ClarionError(Exception):
    """Base class: carries the HTTP status, the envelope ``type`` and the details."""

    status: int = 500
    type: str = "api_error"

    def __init__(self, *details: ErrorDetail) -> None:
        super().__init__(details[0].message if details else self.type)
        self.details: tuple[ErrorDetail, ...] = details


class InvalidRequest(ClarionError):
    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(ErrorDetail(code, message))


class Unauthenticated(ClarionError):
    status = 401
    type = "authentication_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(ErrorDetail(code, message))


class Forbidden(ClarionError):
    status = 403
    type = "resource_forbidden"

    def __init__(self, message: str, code: str = "missing_scope") -> None:
        super().__init__(ErrorDetail(code, message))


class NotFound(ClarionError):
    """404. ``page``: an HTML page to show browsers instead of the JSON envelope (the public
    site's own "not found" page)."""

    status = 404
    type = "not_found"

    def __init__(
        self, message: str = "The requested resource could not be found", page: bytes | None = None
    ) -> None:
        super().__init__(ErrorDetail("not_found", message))
        self.page = page


class MethodNotAllowed(ClarionError):
    """405; ``allow`` is the ``Allow`` header (the methods the resource supports)."""

    status = 405
    type = "method_not_allowed"

    def __init__(
        self,
        allow: str | None = None,
        message: str = "This method is not supported for this resource",
    ) -> None:
        super().__init__(ErrorDetail("method_not_allowed", message))
        self.allow = allow


class Conflict(ClarionError):
    status = 409
    type = "conflict"

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(ErrorDetail(code, message))


class PayloadTooLarge(ClarionError):
    status = 413
    type = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            ErrorDetail("payload_too_large", f"The request body is larger than {limit} bytes")
        )


class ValidationFailed(ClarionError):
    """422 with one or more field-level problems."""

    status = 422
    type = "validation_error"

    def __init__(self, *details: ErrorDetail) -> None:
        super().__init__(*details)

    @classmethod
    def at(
        cls, code: str, message: str, field: str, pointer: str | None = None
    ) -> ValidationFailed:
        """One problem at request field ``field`` (JSON pointer defaults to ``/field``)."""
        return cls(ErrorDetail(code, message, field, pointer or "/" + field.replace(".", "/")))


class ServiceUnavailable(ClarionError):
    """503: Clarion cannot serve the request now (its database does not answer)."""

    status = 503
    type = "service_unavailable"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(ErrorDetail(code, message))


class NotReady(ClarionError):
    """503 from ``/readyz``: one detail per check that failed."""

    status = 503
    type = "service_unavailable"


@dataclass
class RateLimitInfo:
    name: str
    limit: int
    remaining: int
    retry_after: datetime
    retry_after_seconds: int
    headers: dict[str, str] = field(default_factory=dict)


class RateLimited(ClarionError):
    status = 429
    type = "too_many_requests"

    def __init__(self, info: RateLimitInfo) -> None:
        super().__init__(
            ErrorDetail(
                "too_many_requests",
                "Too many requests hit the API too quickly. "
                "We recommend an exponential backoff of your requests.",
            )
        )
        self.info = info
