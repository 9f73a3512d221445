"""``automate_maintenance_status``: on time, caught up after downtime, exactly once with racing
workers, forward only, switched off by a manual status, and notifying as the window asked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from incident_io import AuthenticatedClient
from incident_io.api.status_pages_v2 import (
    status_pages_v2_create_status_page_maintenance_update as create_update,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_delete_status_page_maintenance as delete_maintenance,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_show_status_page_maintenance as show_maintenance,
)
from incident_io.api.status_pages_v2 import (
    status_pages_v2_update_status_page_maintenance as update_maintenance,
)
from incident_io.models import (
    StatusPageMaintenanceV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
    StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus,
    StatusPagesUpdateStatusPageMaintenancePayloadV2,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.clock import FixedClock
from clarion.components.models import ComponentStatusChange
from clarion.context import AppContext
from clarion.events import DomainEvent, EventSink
from clarion.maintenances.automation import automate_maintenance_status
from clarion.maintenances.models import MaintenanceUpdate
from clarion.timeutil import format_ts
from tests.factories import PageInfo, make_key, make_page
from tests.harness import LiveServer, fresh_database, live_server
from tests.maintenances.helpers import create_window, run_automation

HOUR = timedelta(hours=1)
#: Maintenance events recorded by the automation server.
events: list[DomainEvent] = []


class Recording:
    """The server's event sink, keeping a copy of every maintenance event."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    async def record(self, session: AsyncSession, event: DomainEvent) -> None:
        if event.kind.startswith("maintenance."):
            events.append(event)
        await self.sink.record(session, event)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(str(tmp_path_factory.mktemp("automation"))) as url:
        yield url


@pytest.fixture(scope="module")
def auto_server(database_url: str) -> Iterator[LiveServer]:
    """A server of its own: these tests move its clock."""
    with live_server(database_url) as srv:
        srv.ctx.events = Recording(srv.ctx.events)
        yield srv


@pytest.fixture
def clock(auto_server: LiveServer) -> Iterator[LiveServer]:
    auto_server.clock.offset = timedelta()
    yield auto_server
    auto_server.clock.offset = timedelta()


@pytest.fixture
def client(auto_server: LiveServer) -> Iterator[AuthenticatedClient]:
    with AuthenticatedClient(
        base_url=auto_server.base_url,
        token=make_key(auto_server),
        raise_on_unexpected_status=True,
    ) as c:
        yield c


@pytest.fixture
def page2(auto_server: LiveServer) -> PageInfo:
    return make_page(auto_server, components=2, with_group=False)


def now_of(server: LiveServer) -> datetime:
    return server.clock.now()


def show(client: AuthenticatedClient, window_id: str) -> StatusPageMaintenanceV2:
    parsed = show_maintenance.sync_detailed(window_id, client=client).parsed
    return parsed.status_page_maintenance  # type: ignore[union-attr, return-value]


def ledger(server: LiveServer, window_id: str) -> list[tuple[str, str, str]]:
    async def body(ctx: AppContext) -> list[tuple[str, str, str]]:
        async with ctx.db.read() as session:
            rows = await session.scalars(
                select(ComponentStatusChange)
                .where(ComponentStatusChange.maintenance_id == window_id)
                .order_by(ComponentStatusChange.occurred_at, ComponentStatusChange.seq)
            )
            return [(r.component_id, r.status, format_ts(r.occurred_at)) for r in rows]

    return server.call(body)


def automated_updates(server: LiveServer, window_id: str) -> list[tuple[str, str, bool]]:
    async def body(ctx: AppContext) -> list[tuple[str, str, bool]]:
        async with ctx.db.read() as session:
            rows = await session.scalars(
                select(MaintenanceUpdate)
                .where(MaintenanceUpdate.maintenance_id == window_id, MaintenanceUpdate.automated)
                .order_by(MaintenanceUpdate.published_at)
            )
            return [
                (r.maintenance_status, format_ts(r.published_at), r.notify_subscribers)
                for r in rows
            ]

    return server.call(body)


def test_a_window_starts_at_start_at_and_completes_at_end_at(
    clock: LiveServer, client: AuthenticatedClient, page2: PageInfo
) -> None:
    a, b = page2.components.values()
    start = now_of(clock) + HOUR
    end = start + HOUR
    window = create_window(client, page2.id, [a, b], start, end, automate=True)
    run_automation(clock)
    assert show(client, window.id).maintenance_status == "maintenance_scheduled"

    clock.clock.offset = HOUR - timedelta(seconds=30)
    run_automation(clock)
    assert show(client, window.id).maintenance_status == "maintenance_scheduled"

    clock.clock.offset = HOUR + timedelta(seconds=1)
    assert run_automation(clock) >= 1
    started = show(client, window.id)
    assert started.maintenance_status == "maintenance_in_progress"
    assert started.automate_maintenance_status is True
    assert started.updates[0].published_at == start
    assert {
        (c.component_id, c.component_status) for c in started.updates[0].component_statuses
    } == {
        (a, "under_maintenance"),
        (b, "under_maintenance"),
    }
    assert all("end_at" not in p.to_dict() for p in started.component_maintenance_periods)

    clock.clock.offset = 2 * HOUR + timedelta(seconds=1)
    run_automation(clock)
    done = show(client, window.id)
    assert done.maintenance_status == "maintenance_complete"
    assert [u.maintenance_status for u in done.updates] == [
        "maintenance_complete",
        "maintenance_in_progress",
        "maintenance_scheduled",
    ]
    assert all(p.start_at == start and p.end_at == end for p in done.component_maintenance_periods)
    assert ledger(clock, window.id) == [
        (a, "under_maintenance", format_ts(start)),
        (b, "under_maintenance", format_ts(start)),
        (a, "operational", format_ts(end)),
        (b, "operational", format_ts(end)),
    ]
    # Nothing more to do: a further run publishes nothing for this window.
    run_automation(clock)
    assert len(show(client, window.id).updates) == 3


def test_automated_moves_notify_when_the_window_was_created_with_notify_subscribers(
    clock: LiveServer, client: AuthenticatedClient, page2: PageInfo
) -> None:
    a = next(iter(page2.components.values()))
    start = now_of(clock) + timedelta(minutes=1)
    loud = create_window(client, page2.id, [a], start, start + HOUR, automate=True, notify=True)
    quiet = create_window(client, page2.id, [a], start, start + HOUR, automate=True, notify=False)
    clock.clock.offset = 2 * HOUR
    run_automation(clock)
    assert [n for _s, _t, n in automated_updates(clock, loud.id)] == [True, True]
    assert [n for _s, _t, n in automated_updates(clock, quiet.id)] == [False, False]
    kinds = [
        (e.subject_id, e.kind, e.notify_subscribers) for e in events if e.subject_id in (loud.id,)
    ]
    assert kinds == [
        (loud.id, "maintenance.scheduled", True),
        (loud.id, "maintenance.started", True),
        (loud.id, "maintenance.completed", True),
    ]
    started = next(e for e in events if e.subject_id == loud.id and e.kind == "maintenance.started")
    assert started.update_id and started.component_ids == (a,)
    assert started.data["automated"] is True


def test_a_reschedule_never_moves_a_running_window_back_and_publishes_nothing(
    clock: LiveServer, client: AuthenticatedClient, page2: PageInfo
) -> None:
    a = next(iter(page2.components.values()))
    start = now_of(clock) + timedelta(minutes=10)
    window = create_window(client, page2.id, [a], start, start + HOUR, automate=True)
    clock.clock.offset = timedelta(minutes=20)
    run_automation(clock)
    assert show(client, window.id).maintenance_status == "maintenance_in_progress"
    before = len([e for e in events if e.subject_id == window.id])

    later = start + 5 * HOUR
    moved = update_maintenance.sync_detailed(
        window.id,
        client=client,
        body=StatusPagesUpdateStatusPageMaintenancePayloadV2(
            name="Moved", start_at=later, end_at=later + HOUR
        ),
    ).parsed.status_page_maintenance  # type: ignore[union-attr]
    assert moved.maintenance_status == "maintenance_in_progress"
    assert len(moved.updates) == 2
    run_automation(clock)
    # Past the old end but before the new one: still running, nothing published.
    clock.clock.offset = 2 * HOUR
    run_automation(clock)
    still = show(client, window.id)
    assert still.maintenance_status == "maintenance_in_progress"
    assert len(still.updates) == 2
    assert len([e for e in events if e.subject_id == window.id]) == before
    # The new end completes it.
    clock.clock.offset = 7 * HOUR
    run_automation(clock)
    assert show(client, window.id).maintenance_status == "maintenance_complete"


def test_a_manual_status_turns_automation_off(
    clock: LiveServer, client: AuthenticatedClient, page2: PageInfo
) -> None:
    a = next(iter(page2.components.values()))
    start = now_of(clock) + timedelta(minutes=10)
    window = create_window(client, page2.id, [a], start, start + HOUR, automate=True)
    create_update.sync_detailed(
        client=client,
        body=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2(
            status_page_maintenance_id=window.id,
            message="Starting early.",
            notify_subscribers=False,
            maintenance_status=StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2MaintenanceStatus.MAINTENANCE_IN_PROGRESS,
        ),
    )
    shown = show(client, window.id)
    assert shown.automate_maintenance_status is False
    clock.clock.offset = 3 * HOUR
    run_automation(clock)
    after = show(client, window.id)
    assert after.maintenance_status == "maintenance_in_progress"
    assert len(after.updates) == 2
    assert automated_updates(clock, window.id) == []


def test_a_deleted_window_posts_no_more_automatic_updates(
    clock: LiveServer, client: AuthenticatedClient, page2: PageInfo
) -> None:
    a = next(iter(page2.components.values()))
    start = now_of(clock) + timedelta(minutes=10)
    window = create_window(client, page2.id, [a], start, start + HOUR, automate=True)
    assert delete_maintenance.sync_detailed(window.id, client=client).status_code == 204
    clock.clock.offset = 3 * HOUR
    run_automation(clock)
    assert automated_updates(clock, window.id) == []
    assert ledger(clock, window.id) == []


def test_a_window_whose_whole_span_passed_while_down_is_caught_up_in_order(
    clock: LiveServer, client: AuthenticatedClient, page2: PageInfo
) -> None:
    a = next(iter(page2.components.values()))
    start = now_of(clock) + timedelta(minutes=5)
    end = start + HOUR
    window = create_window(client, page2.id, [a], start, end, automate=True)
    clock.clock.offset = 10 * HOUR
    assert run_automation(clock) >= 2
    assert automated_updates(clock, window.id) == [
        ("maintenance_in_progress", format_ts(start), False),
        ("maintenance_complete", format_ts(end), False),
    ]
    assert ledger(clock, window.id) == [
        (a, "under_maintenance", format_ts(start)),
        (a, "operational", format_ts(end)),
    ]


def test_a_server_restarted_in_the_middle_of_a_window_catches_up_and_runs_windows_on_time(
    tmp_path: Path,
) -> None:
    """Stop the server before start_at, start another on the same database after it: its
    worker (running every second) moves the window without being asked."""
    with fresh_database(str(tmp_path)) as url:
        with live_server(url) as first:
            page = make_page(first, components=1, with_group=False)
            (a,) = page.components.values()
            with AuthenticatedClient(base_url=first.base_url, token=make_key(first)) as c:
                start = now_of(first) + timedelta(minutes=10)
                window = create_window(c, page.id, [a], start, start + HOUR, automate=True)
        with live_server(url, run_worker=True) as second:
            second.clock.offset = timedelta(minutes=30)
            with AuthenticatedClient(base_url=second.base_url, token=make_key(second)) as c:
                deadline = time.monotonic() + 15
                while show(c, window.id).maintenance_status == "maintenance_scheduled":
                    assert time.monotonic() < deadline, "the worker did not start the window"
                    time.sleep(0.2)
                assert show(c, window.id).maintenance_status == "maintenance_in_progress"
            assert ledger(second, window.id) == [(a, "under_maintenance", format_ts(start))]
            assert [s for s, _t, _n in automated_updates(second, window.id)] == [
                "maintenance_in_progress"
            ]
            # On time, with nobody calling the job: a window two seconds long, starting in one.
            with AuthenticatedClient(base_url=second.base_url, token=make_key(second)) as c:
                soon = now_of(second) + timedelta(seconds=1)
                quick = create_window(
                    c, page.id, [a], soon, soon + timedelta(seconds=2), automate=True
                )
                while show(c, quick.id).maintenance_status != "maintenance_complete":
                    assert now_of(second) < soon + timedelta(seconds=6), "not completed on time"
                    time.sleep(0.1)


def test_racing_workers_publish_each_move_exactly_once(
    auto_server: LiveServer, client: AuthenticatedClient, page2: PageInfo
) -> None:
    """Four workers, each with its own engine (as separate processes would have), run the job
    at the same moment over windows whose whole span has passed."""
    a, b = page2.components.values()
    start = now_of(auto_server) + timedelta(minutes=1)
    windows = [
        create_window(client, page2.id, [a, b], start, start + HOUR, automate=True).id
        for _ in range(6)
    ]
    moment = start + 2 * HOUR

    async def race() -> list[int]:
        contexts = [AppContext.build(auto_server.settings, FixedClock(moment)) for _ in range(4)]
        try:
            return list(
                await asyncio.gather(*(automate_maintenance_status(ctx) for ctx in contexts))
            )
        finally:
            for ctx in contexts:
                await ctx.close()

    done = asyncio.run(race())
    mine = set(windows)
    assert sum(done) >= 2 * len(windows)  # other tests' windows may be due too
    for window_id in mine:
        assert [s for s, _t, _n in automated_updates(auto_server, window_id)] == [
            "maintenance_in_progress",
            "maintenance_complete",
        ]
        assert [(c, s) for c, s, _t in ledger(auto_server, window_id)] == [
            (a, "under_maintenance"),
            (b, "under_maintenance"),
            (a, "operational"),
            (b, "operational"),
        ]
