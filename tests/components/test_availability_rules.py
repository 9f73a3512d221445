"""Property tests for the availability rules (``clarion.components.availability``)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.components.availability import (
    LedgerPoint,
    availability,
    data_available_since,
    down_intervals,
    floor_percent,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = (
    "operational",
    "degraded_performance",
    "under_maintenance",
    "partial_outage",
    "full_outage",
)
DOWN = {"partial_outage", "full_outage"}

# One cause's changes: (minute offset, status), in any order (sorted below).
changes = st.lists(st.tuples(st.integers(0, 600), st.sampled_from(STATUSES)), max_size=8)
causes = st.lists(changes, max_size=5)


def _points(all_changes: list[list[tuple[int, str]]]) -> list[LedgerPoint]:
    points = [
        LedgerPoint(f"cause-{c}", T0 + timedelta(minutes=minute), seq, status)
        for c, cause in enumerate(all_changes)
        for seq, (minute, status) in enumerate(sorted(cause, key=lambda x: x[0]))
    ]
    return sorted(points, key=lambda p: (p.occurred_at, p.seq))


def _brute_force_down_minutes(points: list[LedgerPoint], lo: int, hi: int) -> int:
    """Minute by minute: down when any cause's latest status at that minute is down."""
    down = 0
    for minute in range(lo, hi):
        moment = T0 + timedelta(minutes=minute)
        latest: dict[str, str] = {}
        for point in points:
            if point.occurred_at <= moment:
                latest[point.cause] = point.status
        if any(s in DOWN for s in latest.values()):
            down += 1
    return down


window = st.tuples(st.integers(0, 700), st.integers(0, 700)).filter(lambda w: w[0] != w[1])


@settings(max_examples=150, deadline=None)
@given(causes, window, st.integers(0, 700), st.integers(0, 700))
def test_the_figure_matches_a_minute_by_minute_count_and_stays_within_0_and_100(
    all_changes: list[list[tuple[int, str]]],
    bounds: tuple[int, int],
    since: int,
    now: int,
) -> None:
    start, end = sorted(bounds)
    points = _points(all_changes)
    result = availability(
        points,
        T0 + timedelta(minutes=start),
        T0 + timedelta(minutes=end),
        T0 + timedelta(minutes=since),
        T0 + timedelta(minutes=now),
    )
    lo, hi = max(start, since), min(end, now)
    if hi <= lo:
        assert result.percent is None
        return
    down = _brute_force_down_minutes(points, lo, hi)
    assert result.covered_seconds == (hi - lo) * 60
    assert result.down_seconds == down * 60
    assert result.percent is not None
    assert Decimal(0) <= Decimal(result.percent) <= Decimal(100)
    # Floored, not rounded: the exact fraction, cut after two decimals.
    exact = Fraction(100 * (hi - lo - down), hi - lo)
    assert Decimal(result.percent) == Decimal(int(exact * 100)) / 100
    assert len(result.percent.split(".")[1]) == 2


@settings(max_examples=150, deadline=None)
@given(causes, st.integers(0, 599), st.integers(1, 600), st.sampled_from(sorted(DOWN)))
def test_adding_downtime_never_raises_the_figure(
    all_changes: list[list[tuple[int, str]]], at: int, length: int, status: str
) -> None:
    start, end, now = T0, T0 + timedelta(minutes=700), T0 + timedelta(minutes=700)
    before = availability(_points(all_changes), start, end, start, now)
    more = [*all_changes, [(at, status), (min(at + length, 650), "operational")]]
    after = availability(_points(more), start, end, start, now)
    assert before.percent is not None and after.percent is not None
    assert Decimal(after.percent) <= Decimal(before.percent)
    assert after.down_seconds >= before.down_seconds


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 200)), min_size=1, max_size=6))
def test_overlapping_impacts_from_several_incidents_are_counted_once(
    outages: list[tuple[int, int]],
) -> None:
    all_changes = [[(a, "full_outage"), (a + n, "operational")] for a, n in outages]
    intervals = down_intervals(_points(all_changes), T0 + timedelta(minutes=1000))
    covered: set[int] = set()
    for a, n in outages:
        covered.update(range(a, a + n))
    total = sum((b - a).total_seconds() for a, b in intervals)
    assert total == len(covered) * 60
    # Merged: disjoint and in order.
    for (_, first_end), (second_start, _) in itertools.pairwise(intervals):
        assert first_end < second_start


def test_the_percentage_is_floored_to_two_decimals() -> None:
    assert floor_percent(3 * 3600, 1) == "99.99"  # 99.9907...
    assert floor_percent(7, 1) == "85.71"  # 85.714...
    assert floor_percent(3, 1) == "66.66"  # rounding would give 66.67
    assert floor_percent(100, 0) == "100.00"
    assert floor_percent(100, 100) == "0.00"
    assert floor_percent(0, 0) is None


def test_data_starts_at_creation_unless_backfilled_history_is_older() -> None:
    created = T0 + timedelta(days=10)
    assert data_available_since(created, None) == created
    assert data_available_since(created, created + timedelta(days=1)) == created
    assert data_available_since(created, T0) == T0
