"""The availability roll-up gives exactly what the ledger walk gives, for any window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.components.availability import LedgerPoint, down_intervals, overlap_seconds
from clarion.components.downtime import Downtime

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("operational", "degraded_performance", "partial_outage", "full_outage")

changes = st.lists(st.tuples(st.integers(0, 600), st.sampled_from(STATUSES)), max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(changes, max_size=6),
    st.integers(-50, 700),
    st.integers(-50, 700),
    st.integers(0, 999_999),
)
def test_the_roll_up_matches_the_ledger_walk_for_any_window(
    causes: list[list[tuple[int, str]]], a: int, b: int, micros: int
) -> None:
    points = sorted(
        (
            LedgerPoint(f"c{c}", T0 + timedelta(minutes=minute), seq, status)
            for c, cause in enumerate(causes)
            for seq, (minute, status) in enumerate(sorted(cause, key=lambda x: x[0]))
        ),
        key=lambda p: (p.occurred_at, p.seq),
    )
    start = T0 + timedelta(minutes=min(a, b), microseconds=micros)
    end = T0 + timedelta(minutes=max(a, b))
    expected = overlap_seconds(down_intervals(points, end), start, end)
    rollup = Downtime.unpack(Downtime.from_points(points).pack())
    # Exact in microseconds; the ledger walk sums floats, so allow its rounding.
    assert rollup.down_seconds(start, end) == pytest.approx(expected, abs=1e-6)
