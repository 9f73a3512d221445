"""Cursor pagination: ``page_size`` 1..250 (default 25) and ``after`` = the last id returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator


def _empty_is_default(value: Any) -> Any:
    """``?page_size=`` (an empty value, which the API allows) means the default."""
    return DEFAULT_PAGE_SIZE if value == "" else value


DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True)
class PageRequest:
    page_size: int
    after: str | None


# async: FastAPI runs plain ``def`` dependencies in a worker thread, a hop on every request.
async def page_request(
    page_size: Annotated[
        int,
        Query(ge=1, le=250, description="Number of records to return (1..250)"),
        BeforeValidator(_empty_is_default),
    ] = DEFAULT_PAGE_SIZE,
    after: Annotated[
        str | None,
        Query(
            description=(
                "A record's ID. This endpoint returns the records after this ID, in the "
                "order of the response."
            )
        ),
    ] = None,
) -> PageRequest:
    return PageRequest(page_size=page_size, after=after or None)


def pagination_meta(
    page: PageRequest, items: list[Any], has_more: bool, id_of: Any = None
) -> dict[str, Any]:
    """``{"page_size": n, "after": last_id}``; ``after`` only when another page exists."""
    meta: dict[str, Any] = {"page_size": page.page_size}
    if has_more and items:
        last = items[-1]
        meta["after"] = id_of(last) if id_of else last["id"]
    return meta
