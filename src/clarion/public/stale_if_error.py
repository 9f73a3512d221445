"""The public site's answers while its database is unavailable: the last good render of what
was asked, marked as such (see ``routes``).

A stale HTML page says, where its template puts ``FRESHNESS_MARK``, that it could not be
refreshed and shows the status as of the last moment its content was known current; every
stale answer has an ETag of its own (so that no cache takes it for the fresh bytes) and
``routes`` adds its ``Age``. JSON, feeds and the badge keep their bytes: their formats have no
place for such a notice, and their own ``updated_at`` / ``<updated>`` times say when their
content last changed."""

from __future__ import annotations

import asyncio
from datetime import datetime

from markupsafe import Markup

from clarion.db.faults import unavailable
from clarion.public.cache import Rendered
from clarion.public.html import _time as time_element

#: Where a page says that it could not be refreshed (an HTML comment in every page).
FRESHNESS_MARK = b"<!--clarion:freshness-->"
_STALE = "stale"


def is_unavailability(error: BaseException) -> bool:
    """Whether a failed render means the database is unavailable (else it is a bug)."""
    return isinstance(error, TimeoutError | asyncio.TimeoutError) or unavailable(error) is not None


def notice(as_of: datetime) -> bytes:
    """What a stale page says."""
    text = Markup(
        '<p class="stale-notice" role="status"><strong>This page could not be refreshed.</strong> '
        "It shows the status as of {}, and may be out of date.</p>"
    ).format(time_element(as_of))
    return str(text).encode()


def variant(rendered: Rendered, as_of: datetime) -> Rendered:
    """``rendered`` as a stale answer current as of ``as_of`` (made once per ``as_of``)."""
    found: tuple[datetime, Rendered] | None = rendered.memo.get(_STALE)
    if found is not None and found[0] == as_of:
        return found[1]
    body = rendered.body
    if rendered.content_type.startswith("text/html"):
        body = body.replace(FRESHNESS_MARK, notice(as_of), 1)
    etag = f'{rendered.etag[:-1]}-stale-{int(as_of.timestamp()):x}"'
    value = Rendered.build(
        body, rendered.content_type, etag, status=rendered.status, headers=rendered.headers
    )
    rendered.memo[_STALE] = (as_of, value)
    return value
