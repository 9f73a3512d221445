"""A roll-up of merged down intervals per (page, component), so that availability over a
year of history costs a few index lookups instead of reading every ledger row.

The roll-up is a cache, never the source of truth:

1. It records the page's ``content_version`` and the component's ledger row count it was
   computed from. Every write that changes a page bumps its content version, and the ledger is
   append-only, so when both still match, the roll-up is exact. When either differs it is
   ignored, the answer is computed from the ledger, and the roll-up is rebuilt.
2. It stores the intervals from ``availability.down_intervals`` (so both paths share one set of
   rules) as packed int64 microseconds, with running totals: the down time inside any window is
   two binary searches and a subtraction.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clarion.components.availability import Interval, LedgerPoint, down_intervals

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: ``until`` for intervals still open: they are stored as ending at ``OPEN``.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
OPEN = 2**63 - 1


def to_us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True)
class Downtime:
    """Disjoint down intervals in time order, in microseconds, with running totals."""

    starts: array[int]
    ends: array[int]
    totals: array[int]  # totals[i] = length of intervals 0..i-1 (closed ones)

    @classmethod
    def from_intervals(cls, intervals: Sequence[Interval]) -> Downtime:
        starts, ends, totals = array("q"), array("q"), array("q", [0])
        for start, end in intervals:
            s = to_us(start)
            e = OPEN if end >= FAR_FUTURE else to_us(end)
            starts.append(s)
            ends.append(e)
            totals.append(totals[-1] + (0 if e == OPEN else e - s))
        return cls(starts, ends, totals)

    @classmethod
    def from_points(cls, points: Sequence[LedgerPoint]) -> Downtime:
        return cls.from_intervals(down_intervals(points, FAR_FUTURE))

    def pack(self) -> bytes:
        return self.starts.tobytes() + self.ends.tobytes() + self.totals.tobytes()

    @classmethod
    def unpack(cls, blob: bytes) -> Downtime:
        values = array("q")
        values.frombytes(blob)
        n = (len(values) - 1) // 3
        return cls(values[:n], values[n : 2 * n], values[2 * n :])

    def down_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of down time inside ``[start, end)``.

        The intervals overlapping the window are ``first..last``; the closed ones in between
        are summed through the running totals, then the two ends are clipped.
        """
        lo, hi = to_us(start), to_us(end)
        if hi <= lo or not self.starts:
            return 0.0
        first = bisect.bisect_right(self.ends, lo)  # first interval ending after lo
        last = bisect.bisect_left(self.starts, hi) - 1  # last interval starting before hi
        if last < first:
            return 0.0
        total = 0
        edges: Sequence[int] = range(first, last + 1)
        if last - first >= 2:
            # Intervals strictly between the two ends lie inside the window and are closed
            # (only the very last interval can still be open).
            total += self.totals[last] - self.totals[first + 1]
            edges = (first, last)
        for i in edges:
            a, b = max(self.starts[i], lo), min(self.ends[i], hi)
            if b > a:
                total += b - a
        return total / 1_000_000
