"""``clarion maintenance create | update | list``: maintenance windows from the command line,
through the same services as the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from clarion.cli.publishing import (
    echo_json,
    item_id,
    notify_option,
    parse_time,
    print_listing,
    read_message,
    report,
    run,
    split_refs,
    validated,
)

if TYPE_CHECKING:
    from clarion.context import AppContext
    from clarion.status_pages.models import StatusPage

#: The statuses by their short names (the API's have a ``maintenance_`` prefix).
STATUSES = {
    "scheduled": "maintenance_scheduled",
    "in_progress": "maintenance_in_progress",
    "complete": "maintenance_complete",
}
_status_choice = click.Choice(list(STATUSES))
_json = click.option("--json", "as_json", is_flag=True, help="Print the window as JSON.")


@click.group("maintenance")
def command() -> None:
    """Schedule maintenance windows, post their updates, list them (as the API does)."""


@command.command("create")
@click.option("--page", required=True, help="The status page: its slug or id.")
@click.option("--name", required=True, help="The window's title.")
@click.option("--start", required=True, help="When it starts: ISO 8601 with offset.")
@click.option("--end", required=True, help="When it ends: ISO 8601 with offset.")
@click.option("--message", required=True, help="The first update (Markdown); - reads stdin.")
@click.option(
    "--component",
    "components",
    multiple=True,
    required=True,
    metavar="KEY",
    help="An affected component's key (as in `clarion apply`) or id; repeat for several.",
)
@click.option("--status", type=_status_choice, default="scheduled", show_default=True)
@click.option(
    "--automate/--no-automate",
    default=False,
    show_default=True,
    help="Start and complete the window on time.",
)
@notify_option
@click.option(
    "--idempotency-key",
    help="Run a retried command once: the same key returns the first window "
    "(shared with the API's create).",
)
@_json
def create(
    page: str,
    name: str,
    start: str,
    end: str,
    message: str,
    components: tuple[str, ...],
    status: str,
    automate: bool,
    notify: bool,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Schedule a maintenance window; prints its public permalink."""
    start_at = parse_time(start, "--start")
    end_at = parse_time(end, "--end")
    refs = list(components)
    text = read_message(message)

    async def body(ctx: AppContext) -> dict[str, Any]:
        import uuid

        from clarion.audit import Actor
        from clarion.cli.publishing import page_and_components, permalink
        from clarion.maintenances.api import create_window
        from clarion.maintenances.schemas import StatusPagesCreateStatusPageMaintenancePayloadV2

        found, ids = await page_and_components(ctx, page, refs)
        payload = validated(
            StatusPagesCreateStatusPageMaintenancePayloadV2,
            {
                "status_page_id": found.id,
                "name": name,
                "maintenance_status": STATUSES[status],
                "idempotency_key": idempotency_key or uuid.uuid4().hex,
                "affected_component_ids": ids,
                "start_at": start_at,
                "end_at": end_at,
                "message": text,
                "notify_subscribers": notify,
                "automate_maintenance_status": automate,
            },
            refs,
        )

        _status, result = await create_window(ctx, Actor.cli(), payload)
        window_id = result["status_page_maintenance"]["id"]
        return {**result, "permalink": permalink(found, ctx.settings, "maintenance", window_id)}

    report(run(body, refs), as_json, "scheduled maintenance window")


@command.command("update")
@click.argument("window")
@click.option("--message", help="An update (Markdown); - reads stdin.")
@click.option(
    "--status",
    type=_status_choice,
    help="Move the window (turns its automation off); complete sets its components back to "
    "operational.",
)
@click.option(
    "--component",
    "components",
    multiple=True,
    metavar="KEY=STATUS",
    help="An affected component's key or id and its status (operational or "
    "under_maintenance); repeat for several.",
)
@notify_option
@click.option("--name", help="Rename the window (nothing is published).")
@click.option("--start", help="Move its planned start: ISO 8601 with offset.")
@click.option("--end", help="Move its planned end: ISO 8601 with offset.")
@_json
def update(
    window: str,
    message: str | None,
    status: str | None,
    components: tuple[str, ...],
    notify: bool,
    name: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
) -> None:
    """Post an update to WINDOW (its id or permalink), rename or reschedule it, or both;
    prints its permalink."""
    reschedule = name is not None or start is not None or end is not None
    if message is None and not reschedule:
        raise click.UsageError("give --message (an update) and/or --name, --start, --end")
    if message is None and (status or components):
        raise click.UsageError("--status and --component need --message (they make an update)")
    start_at = parse_time(start, "--start") if start is not None else None
    end_at = parse_time(end, "--end") if end is not None else None
    pairs = split_refs(components, "--component")
    refs = [ref for ref, _ in pairs]
    text = read_message(message) if message is not None else None
    window_id = item_id(window)

    async def body(ctx: AppContext) -> dict[str, Any]:
        from clarion.audit import Actor
        from clarion.cli.publishing import component_ids, permalink
        from clarion.maintenances import service
        from clarion.maintenances.api import post_window_update
        from clarion.maintenances.schemas import (
            StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2,
            StatusPagesUpdateStatusPageMaintenancePayloadV2,
            maintenance_v2,
        )
        from clarion.status_pages.service import get_page

        actor = Actor.cli()
        async with ctx.db.read() as session:
            ids = await component_ids(session, refs)
            current = await service.load_maintenance(session, window_id)
        planned = None
        if reschedule:
            planned = validated(
                StatusPagesUpdateStatusPageMaintenancePayloadV2,
                {
                    "name": name if name is not None else current.maintenance.name,
                    "start_at": start_at or current.maintenance.start_at,
                    "end_at": end_at or current.maintenance.end_at,
                },
            )
        posted = None
        if text is not None:
            fields: dict[str, Any] = {
                "status_page_maintenance_id": window_id,
                "message": text,
                "notify_subscribers": notify,
                "maintenance_status": STATUSES[status] if status else None,
            }
            if pairs:
                fields["component_statuses"] = [
                    {"component_id": i, "component_status": s}
                    for i, (_, s) in zip(ids, pairs, strict=True)
                ]
            posted = validated(StatusPagesCreateStatusPageMaintenanceUpdatePayloadV2, fields, refs)
        async with ctx.db.write() as session:
            now = ctx.clock.now()
            if planned is not None:
                await service.reschedule_maintenance(
                    session,
                    window_id,
                    actor=actor,
                    name=planned.name,
                    start_at=planned.start_at,
                    end_at=planned.end_at,
                    now=now,
                )
            if posted is not None:
                await post_window_update(session, ctx, actor, posted)
            view = await service.load_maintenance(session, window_id)
            page = await get_page(session, view.maintenance.status_page_id)
        return {
            "status_page_maintenance": maintenance_v2(view),
            "permalink": permalink(page, ctx.settings, "maintenance", window_id),
        }

    report(run(body, refs), as_json, "updated maintenance window")


@command.command("list")
@click.option("--page", required=True, help="The status page: its slug or id.")
@click.option("--limit", type=click.IntRange(1, 250), default=25, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the windows as JSON.")
def list_windows(page: str, limit: int, as_json: bool) -> None:
    """The page's maintenance windows, newest first: id, status, planned start and end (in
    the page's time zone), affected components, name, permalink."""

    async def body(ctx: AppContext) -> tuple[StatusPage, list[list[str]], dict[str, Any]]:
        from clarion.cli.publishing import component_keys, find_page, local_time, permalink, zone_of
        from clarion.http.filters import ListFilters
        from clarion.maintenances import service
        from clarion.maintenances.schemas import maintenance_v2

        async with ctx.db.read() as session:
            found = await find_page(session, page)
            views, more = await service.list_maintenances(
                session,
                page_id=found.id,
                filters=ListFilters(),
                limit=limit,
                after=None,
                now=ctx.clock.now(),
            )
            keys = await component_keys(session, [c for v in views for c in v.component_ids])
        zone = zone_of(found)
        rows, items = [], []
        for view in views:
            window = view.maintenance
            link = permalink(found, ctx.settings, "maintenance", window.id)
            items.append({**maintenance_v2(view), "permalink": link})
            rows.append(
                [
                    window.id,
                    window.maintenance_status.removeprefix("maintenance_"),
                    local_time(window.start_at, zone),
                    local_time(window.end_at, zone),
                    ",".join(keys.get(c, c) for c in view.component_ids) or "-",
                    window.name,
                    link,
                ]
            )
        return found, rows, {"status_page_maintenances": items, "more": more}

    found, rows, document = run(body)
    if as_json:
        echo_json(document)
        return
    header = ["ID", "STATUS", "STARTS", "ENDS", "COMPONENTS", "NAME", "PERMALINK"]
    print_listing(found, header, rows, document["more"], limit)
