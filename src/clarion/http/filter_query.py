"""The FastAPI dependency that reads the list filters of ``http/filters.py`` from a request.

Apart from ``filters``, so that the services and the static export, which use the filters but
serve no request, do not import FastAPI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from clarion.errors import ValidationFailed
from clarion.http.filters import ListFilters, parse_query_timestamp


# async: FastAPI runs plain ``def`` dependencies in a worker thread, a hop on every request.
async def list_filters(
    component_id: Annotated[
        str | None,
        Query(max_length=64, description="Only items that affected this component"),
    ] = None,
    group_id: Annotated[
        str | None,
        Query(max_length=64, description="Only items that affected a component in this group"),
    ] = None,
    sub_page_id: Annotated[
        str | None,
        Query(max_length=64, description="Only items that affected a component of this sub-page"),
    ] = None,
    start_at: Annotated[
        str | None,
        Query(
            description="Only items active during or after this time (RFC 3339)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    end_at: Annotated[
        str | None,
        Query(
            description="Only items active during or before this time (RFC 3339)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
) -> ListFilters:
    """FastAPI dependency: the filters of a list request (empty strings mean "not set")."""
    start = parse_query_timestamp(start_at, "start_at")
    end = parse_query_timestamp(end_at, "end_at")
    if start is not None and end is not None and end < start:
        raise ValidationFailed.at("invalid_value", "end_at must not be before start_at", "end_at")
    return ListFilters(
        component_id=component_id or None,
        group_id=group_id or None,
        sub_page_id=sub_page_id or None,
        start_at=start,
        end_at=end,
    )
