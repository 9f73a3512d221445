"""``clarion incidents create | update | resolve | list``: publishing from the command line,
through the API's own payloads and services (validation, events and notifications,
idempotency), recorded in the audit log as ``cli:<OS user>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from clarion.cli.publishing import (
    echo_json,
    item_id,
    notify_option,
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

STATUSES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = "operational, degraded_performance, partial_outage or full_outage"
RESOLVED_MESSAGE = "This incident has been resolved."

_component = click.option(
    "--component",
    "components",
    multiple=True,
    metavar="KEY=STATUS",
    help=f"A component's key (as in `clarion apply`) or id, and its status ({IMPACTS}); "
    "repeat for several.",
)
_json = click.option("--json", "as_json", is_flag=True, help="Print the incident as JSON.")


@click.group("incidents")
def command() -> None:
    """Declare incidents, post updates, resolve them, list them (as the API does)."""


def _statuses(ids: list[str], pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {"component_id": i, "component_status": s} for i, (_, s) in zip(ids, pairs, strict=True)
    ]


@command.command("create")
@click.option("--page", required=True, help="The status page: its slug or id.")
@click.option("--name", required=True, help="The incident's title.")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="investigating",
    show_default=True,
)
@click.option("--message", required=True, help="The first update (Markdown); - reads stdin.")
@_component
@notify_option
@click.option(
    "--idempotency-key",
    help="Run a retried command once: the same key returns the first incident "
    "(shared with the API's create).",
)
@_json
def create(
    page: str,
    name: str,
    status: str,
    message: str,
    components: tuple[str, ...],
    notify: bool,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Declare an incident on a page; prints its public permalink."""
    pairs = split_refs(components, "--component")
    refs = [ref for ref, _ in pairs]
    text = read_message(message)

    async def body(ctx: AppContext) -> dict[str, Any]:
        import uuid

        from clarion.audit import Actor
        from clarion.cli.publishing import page_and_components, permalink
        from clarion.incidents.api import create_incident
        from clarion.incidents.schemas import StatusPagesCreateStatusPageIncidentPayloadV2

        found, ids = await page_and_components(ctx, page, refs)
        payload = validated(
            StatusPagesCreateStatusPageIncidentPayloadV2,
            {
                "status_page_id": found.id,
                "name": name,
                "incident_status": status,
                "message": text,
                "notify_subscribers": notify,
                "idempotency_key": idempotency_key or uuid.uuid4().hex,
                "component_statuses": _statuses(ids, pairs),
            },
            refs,
        )
        _status, result = await create_incident(ctx, Actor.cli(), payload)
        incident_id = result["status_page_incident"]["id"]
        return {**result, "permalink": permalink(found, ctx.settings, "incidents", incident_id)}

    report(run(body, refs), as_json, "declared incident")


def _post(
    incident: str,
    *,
    message: str | None,
    status: str | None,
    pairs: list[tuple[str, str]],
    notify: bool,
    name: str | None,
) -> dict[str, Any]:
    """Rename and/or post an update (each one write, in one transaction); the incident after."""
    refs = [ref for ref, _ in pairs]
    incident_id = item_id(incident)

    async def body(ctx: AppContext) -> dict[str, Any]:
        from clarion.audit import Actor
        from clarion.cli.publishing import component_ids, permalink
        from clarion.incidents import service
        from clarion.incidents.api import post_update, view_body
        from clarion.incidents.schemas import (
            StatusPagesCreateStatusPageIncidentUpdatePayloadV2,
            StatusPagesUpdateStatusPageIncidentPayloadV2,
        )
        from clarion.status_pages.service import get_page

        async with ctx.db.read() as session:
            ids = await component_ids(session, refs)
        rename = (
            validated(StatusPagesUpdateStatusPageIncidentPayloadV2, {"name": name})
            if name is not None
            else None
        )
        update = None
        if message is not None:
            fields: dict[str, Any] = {
                "status_page_incident_id": incident_id,
                "message": message,
                "notify_subscribers": notify,
                "incident_status": status,
            }
            if pairs:
                fields["component_statuses"] = _statuses(ids, pairs)
            update = validated(StatusPagesCreateStatusPageIncidentUpdatePayloadV2, fields, refs)
        actor = Actor.cli()
        async with ctx.db.write() as session:
            if rename is not None:
                await service.rename_incident(
                    session, incident_id, rename.name, ctx.clock.now(), actor=actor
                )
            if update is not None:
                await post_update(session, ctx, actor, update)
            view = await service.load_incident(session, incident_id)
            page = await get_page(session, view.incident.status_page_id)
        return {
            "status_page_incident": view_body(view),
            "permalink": permalink(page, ctx.settings, "incidents", incident_id),
        }

    return run(body, refs)


@command.command("update")
@click.argument("incident")
@click.option("--message", help="The update (Markdown); - reads stdin.")
@click.option("--status", type=click.Choice(STATUSES), help="The new status (default: unchanged).")
@_component
@notify_option
@click.option("--name", help="Rename the incident (no update is published for a rename).")
@_json
def update(
    incident: str,
    message: str | None,
    status: str | None,
    components: tuple[str, ...],
    notify: bool,
    name: str | None,
    as_json: bool,
) -> None:
    """Post an update to INCIDENT (its id or permalink), rename it, or both; prints its
    permalink."""
    if message is None and name is None:
        raise click.UsageError("give --message (an update), --name (a rename) or both")
    if message is None and (status or components):
        raise click.UsageError("--status and --component need --message (they make an update)")
    result = _post(
        incident,
        message=read_message(message) if message is not None else None,
        status=status,
        pairs=split_refs(components, "--component"),
        notify=notify,
        name=name,
    )
    report(result, as_json, "updated incident")


@command.command("resolve")
@click.argument("incident")
@click.option(
    "--message", default=RESOLVED_MESSAGE, show_default=True, help="The resolving update."
)
@notify_option
@_json
def resolve(incident: str, message: str, notify: bool, as_json: bool) -> None:
    """Resolve INCIDENT (its id or permalink): every component it affected becomes
    operational. Prints its permalink."""
    result = _post(
        incident,
        message=read_message(message),
        status="resolved",
        pairs=[],
        notify=notify,
        name=None,
    )
    report(result, as_json, "resolved incident")


@command.command("list")
@click.option("--page", required=True, help="The status page: its slug or id.")
@click.option("--limit", type=click.IntRange(1, 250), default=25, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the incidents as JSON.")
def list_incidents(page: str, limit: int, as_json: bool) -> None:
    """The page's incidents, newest first: id, status, when published (in the page's time
    zone), the components affected and their status, name, permalink."""

    async def body(ctx: AppContext) -> tuple[StatusPage, list[list[str]], dict[str, Any]]:
        from clarion.cli.publishing import component_keys, find_page, local_time, permalink, zone_of
        from clarion.incidents import service
        from clarion.incidents.api import view_body

        async with ctx.db.read() as session:
            found = await find_page(session, page)
            views, more = await service.list_incidents(
                session, page_id=found.id, limit=limit, after=None
            )
            keys = await component_keys(session, [i.component_id for v in views for i in v.impacts])
        zone = zone_of(found)
        rows, items = [], []
        for view in views:
            link = permalink(found, ctx.settings, "incidents", view.incident.id)
            items.append({**view_body(view), "permalink": link})
            latest: dict[str, str] = {}
            for impact in sorted(view.impacts, key=lambda i: i.start_at):
                latest[keys.get(impact.component_id, impact.component_id)] = impact.status
            rows.append(
                [
                    view.incident.id,
                    view.incident.incident_status,
                    local_time(view.incident.published_at, zone),
                    ",".join(f"{k}={s}" for k, s in latest.items()) or "-",
                    view.incident.name,
                    link,
                ]
            )
        return found, rows, {"status_page_incidents": items, "more": more}

    found, rows, document = run(body)
    if as_json:
        echo_json(document)
        return
    header = ["ID", "STATUS", "PUBLISHED", "IMPACT", "NAME", "PERMALINK"]
    print_listing(found, header, rows, document["more"], limit)
