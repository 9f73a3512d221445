"""Wire models shared by every endpoint (named after incident.io's schema names).

Response models exist for the OpenAPI document; handlers build plain dicts with explicit
functions and never send ``null`` (optional keys are left out, hence ``SkipJsonSchema[None]``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema


class PaginationMetaResultV2(BaseModel):
    page_size: int = Field(description="What was the maximum number of results requested")
    after: str | SkipJsonSchema[None] = Field(
        default=None,
        description="If provided, pass this as the 'after' param to load the next page",
    )


class ManagementMetaV2(BaseModel):
    annotations: dict[str, str]
    managed_by: str = Field(description="dashboard | external | terraform")
    source_url: str | SkipJsonSchema[None] = None


class ErrorSource(BaseModel):
    field: str
    pointer: str


class ErrorSingle(BaseModel):
    code: str
    message: str
    source: ErrorSource | SkipJsonSchema[None] = None
    metadata: dict[str, str] | SkipJsonSchema[None] = None


class ErrorRateLimit(BaseModel):
    name: str
    limit: int
    remaining: int
    retry_after: str


class ErrorResponse(BaseModel):
    type: str
    status: int
    request_id: str
    errors: list[ErrorSingle]
    rate_limit: ErrorRateLimit | SkipJsonSchema[None] = None


ERROR_STATUSES = (400, 401, 403, 404, 405, 406, 408, 409, 412, 413, 422, 429, 500)

#: ``responses=`` for every API route: the documented error bodies.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": "Error"} for status in ERROR_STATUSES
}


def management_meta(managed_by: str) -> dict[str, object]:
    return {"annotations": {}, "managed_by": managed_by}
