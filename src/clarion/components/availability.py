"""Availability from the status ledger: the rules of docs/uptime.md, in one place.

Used by the availability endpoint and by the public page's uptime bars, so both always agree.

1. A component is *down* while at least one of its causes (incidents, maintenance windows) has
   it in ``partial_outage`` or ``full_outage``. ``degraded_performance``,
   ``under_maintenance`` and ``operational`` count as up.
2. Overlapping impacts are merged: time is never counted as down twice.
3. Only the *covered* part of a window counts: from ``max(start, data_available_since)`` to
   ``min(end, now)``. Time before data existed, and time in the future, is neither up nor down.
4. ``percent = floor(10000 * (covered - down) / covered) / 100``, written with two decimals
   (``"99.94"``, ``"100.00"``); no percentage when nothing of the window is covered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from clarion.components.ledger import DOWN_STATUSES

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class LedgerPoint:
    """One ledger row reduced to what availability needs."""

    cause: str
    occurred_at: datetime
    seq: int
    status: str


def down_intervals(points: Iterable[LedgerPoint], until: datetime) -> list[Interval]:
    """Merged intervals during which the component was down, up to ``until``.

    ``points`` must be in time order (``occurred_at``, then ``seq``).
    """
    status_by_cause: dict[str, str] = {}
    down_causes = 0
    started: datetime | None = None
    found: list[Interval] = []
    for point in points:
        if point.occurred_at >= until:
            break
        was_down = status_by_cause.get(point.cause) in DOWN_STATUSES
        is_down = point.status in DOWN_STATUSES
        status_by_cause[point.cause] = point.status
        if was_down == is_down:
            continue
        down_causes += 1 if is_down else -1
        if down_causes == 1 and is_down:
            started = point.occurred_at
        elif down_causes == 0 and started is not None:
            if point.occurred_at > started:
                found.append((started, point.occurred_at))
            started = None
    if started is not None and until > started:
        found.append((started, until))
    return found


def overlap_seconds(intervals: Iterable[Interval], start: datetime, end: datetime) -> float:
    """Seconds of ``intervals`` (disjoint) inside ``[start, end)``."""
    total = 0.0
    for a, b in intervals:
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


def floor_percent(covered_seconds: float, down_seconds: float) -> str | None:
    """Floored to two decimals, as a string; None when nothing is covered."""
    if covered_seconds <= 0:
        return None
    down = min(max(down_seconds, 0.0), covered_seconds)
    # Integer arithmetic on microseconds avoids float rounding up across a boundary.
    covered_us = round(covered_seconds * 1_000_000)
    up_us = covered_us - round(down * 1_000_000)
    basis_points = (up_us * 10_000) // covered_us
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def data_available_since(
    component_created_at: datetime, first_change_at: datetime | None
) -> datetime:
    """When a component's data on a page starts: its creation, or its first ledger row on the
    page if that is earlier (history backfilled by retrospective incidents).

    Clarion does not record when a component was placed on a page; creation is the closest
    thing it knows (docs/uptime.md).
    """
    if first_change_at is not None and first_change_at < component_created_at:
        return first_change_at
    return component_created_at


@dataclass(frozen=True)
class Availability:
    covered_start: datetime
    covered_end: datetime
    covered_seconds: float
    down_seconds: float
    percent: str | None


def availability(
    points: Iterable[LedgerPoint],
    start: datetime,
    end: datetime,
    data_available_since: datetime,
    now: datetime,
) -> Availability:
    """Availability of one component over ``[start, end)`` (rules in the module docstring)."""
    lo = max(start, data_available_since)
    hi = min(end, now)
    if hi <= lo:
        return Availability(lo, lo, 0.0, 0.0, None)
    intervals = down_intervals(points, hi)
    covered = (hi - lo).total_seconds()
    down = overlap_seconds(intervals, lo, hi)
    return Availability(lo, hi, covered, down, floor_percent(covered, down))
