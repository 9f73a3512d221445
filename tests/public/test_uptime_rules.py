"""The uptime bars' own arithmetic agrees with the availability rules it restates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.components.availability import LedgerPoint, down_intervals
from clarion.public.uptime import _down_intervals, _Point

START = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("operational", "degraded_performance", "partial_outage", "full_outage",
            "under_maintenance")  # fmt: skip

points = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=-5_000_000, max_value=50_000_000),
        st.sampled_from(STATUSES),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(points, st.integers(min_value=-1_000_000, max_value=60_000_000))
def test_down_intervals_on_microseconds_match_the_availability_rule(
    raw: list[tuple[str, int, str]], until: int
) -> None:
    ordered = sorted(raw, key=lambda p: p[1])
    as_us = [_Point(cause, True, status, at) for cause, at, status in ordered]
    as_time = [
        LedgerPoint(cause, START + timedelta(microseconds=at), seq, status)
        for seq, (cause, at, status) in enumerate(ordered)
    ]
    expected = [
        ((a - START) // timedelta(microseconds=1), (b - START) // timedelta(microseconds=1))
        for a, b in down_intervals(as_time, START + timedelta(microseconds=until))
    ]
    assert _down_intervals(as_us, until) == expected
