"""A status page's content version: what the render caches and the API's list cache key on.

Every write that changes what a page shows calls ``touch_page`` in its transaction. It adds a
``PageVersion`` row, and the page's ``content_version`` is the number of those rows (plus the
ones folded away), so the version moves exactly when such a write commits, on every backend and
in every process, whatever order concurrent writes commit in. Adding a row locks nothing that
another write to the page needs, so writes to one page never queue behind each other here.

``fold_versions`` (a worker job) keeps the rows few: it deletes all but the newest row of a
page and adds their number to ``StatusPage.versions_folded`` in the same transaction, so the
version a reader computes is the same before and after.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.db.engine import TOUCHED_PAGES
from clarion.ids import new_id
from clarion.status_pages.models import PageVersion, StatusPage

#: Pages with more version rows than this are folded by ``fold_versions``.
FOLD_ABOVE = 8


def touch_page(session: AsyncSession, page_id: str, now: datetime) -> None:
    """Record that this transaction changes what page ``page_id`` shows."""
    touch_pages(session, [page_id], now)


def touch_pages(session: AsyncSession, page_ids: Iterable[str], now: datetime) -> None:
    """``touch_page`` for several pages (each once)."""
    touched: set[str] = session.info.setdefault(TOUCHED_PAGES, set())
    for page_id in sorted(set(page_ids) - touched):
        session.add(PageVersion(id=new_id(), status_page_id=page_id, created_at=now))
        touched.add(page_id)


async def fold_versions(session: AsyncSession, limit: int = 100) -> int:
    """Fold the version rows of up to ``limit`` pages that have more than ``FOLD_ABOVE``;
    return how many rows went. A page's newest row stays (``StatusPage.changed_at``)."""
    crowded = (
        select(PageVersion.status_page_id)
        .group_by(PageVersion.status_page_id)
        .having(func.count() > FOLD_ABOVE)
        .limit(limit)
    )
    folded = 0
    for page_id in list(await session.scalars(crowded)):
        newest = await session.scalar(
            select(PageVersion.id)
            .where(PageVersion.status_page_id == page_id)
            .order_by(PageVersion.created_at.desc(), PageVersion.id.desc())
            .limit(1)
        )
        older = list(
            await session.scalars(
                select(PageVersion.id).where(
                    PageVersion.status_page_id == page_id, PageVersion.id != newest
                )
            )
        )
        # Only the rows this statement deleted are counted: on PostgreSQL a concurrent fold
        # may have taken some of them first.
        result = await session.execute(
            delete(PageVersion).where(PageVersion.id.in_(older)),
            execution_options={"synchronize_session": False},
        )
        gone = int(getattr(result, "rowcount", 0) or 0)
        if gone:
            await session.execute(
                update(StatusPage)
                .where(StatusPage.id == page_id)
                .values(versions_folded=StatusPage.versions_folded + gone),
                execution_options={"synchronize_session": False},
            )
        folded += gone
    return folded
