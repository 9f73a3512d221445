"""The cells of the uptime bars: what they say, and that making them keeps memory bounded
however many distinct days with incidents writes bring."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import date, timedelta

from clarion.public import html
from clarion.public.uptime import DayBar, DayIncident

DAY = date(2026, 3, 4)


def test_a_quiet_day_is_a_bare_cell_named_by_its_label() -> None:
    quiet = DayBar(DAY, "100.00", "operational")
    assert html._bar_cell(quiet, True) == (
        '<li class="bar s-ok" role="option" tabindex="0" aria-selected="true"'
        ' aria-label="4 Mar 2026: 100.00% uptime; no incidents"></li>'
    )
    assert html._bar_cell(DayBar(DAY, None, "nodata")) == (
        '<li class="bar s-nd" role="option" tabindex="-1" aria-label="4 Mar 2026: no data"></li>'
    )


def test_a_day_with_incidents_lists_them_escaped_in_its_tip() -> None:
    cause = DayIncident("01X", "<b>DB</b> & co", "incident", "partial_outage")
    cell = html._bar_cell(DayBar(DAY, "99.50", "partial_outage", (cause,)))
    assert cell == (
        '<li class="bar s-po t" role="option" tabindex="-1"'
        ' aria-label="4 Mar 2026: 99.50% uptime; &lt;b&gt;DB&lt;/b&gt; &amp; co (partial outage)">'
        '<span class="tip" aria-hidden="true"><strong>4 Mar 2026</strong> <span>99.50% uptime'
        '</span> <span class="s-po">&lt;b&gt;DB&lt;/b&gt; &amp; co (partial outage)</span>'
        "</span></li>"
    )


def test_cells_of_ever_new_incidents_leave_no_memory_behind() -> None:
    """Every write makes new days with incidents (today's names a new one); their cells are
    made for one render and kept by nothing."""

    def cells(first: int) -> None:
        for n in range(first, first + 5000):
            causes = tuple(
                DayIncident(
                    f"01INCIDENT{n:08d}{k}", f"Incident {n}-{k} " * 4, "incident", "full_outage"
                )
                for k in range(3)
            )
            html._bar_cell(DayBar(DAY - timedelta(days=n % 90), "97.10", "full_outage", causes))

    cells(0)  # whatever a first call sets up
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cells(5000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, grown


def test_quiet_cells_are_memoised_by_values_only_within_their_budget() -> None:
    for n in range(3000):
        day = DAY - timedelta(days=n)
        html._bar_cell(DayBar(day, f"{n % 100}.00", "operational"), n % 2 == 0)
    store = html._quiet_cell.store
    assert store.held_bytes <= store.max_bytes
    for key in store:
        assert all(isinstance(part, str | date | bool | None) for part in key), key
