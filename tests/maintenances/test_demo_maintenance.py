"""The demo page ships with finished maintenance windows and one coming up."""

from __future__ import annotations

from pathlib import Path

import httpx

from clarion.cli.demo import Demo, prepare_demo
from clarion.context import AppContext
from tests.harness import fresh_database, live_server


def test_the_demo_has_completed_windows_and_an_upcoming_automated_one_seeded_once(
    tmp_path: Path,
) -> None:
    with fresh_database(str(tmp_path)) as url, live_server(url) as server:

        async def prepare(ctx: AppContext) -> Demo:
            return await prepare_demo(ctx)

        server.call(prepare)
        token = server.call(prepare).token  # a second run adds nothing
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            (page,) = http.get("/v2/status_pages").json()["status_pages"]
            found = http.get(
                "/v2/status_page_maintenances", params={"status_page_id": page["id"]}
            ).json()["status_page_maintenances"]
    statuses = [m["maintenance_status"] for m in found]
    assert statuses.count("maintenance_scheduled") == 1
    assert statuses.count("maintenance_complete") >= 3
    assert set(statuses) == {"maintenance_scheduled", "maintenance_complete"}
    upcoming = next(m for m in found if m["maintenance_status"] == "maintenance_scheduled")
    assert upcoming["automate_maintenance_status"] is True
    for window in found:
        if window["maintenance_status"] == "maintenance_complete":
            assert [u["maintenance_status"] for u in window["updates"]] == [
                "maintenance_complete",
                "maintenance_in_progress",
                "maintenance_scheduled",
            ]
            assert all("end_at" in p for p in window["component_maintenance_periods"])
