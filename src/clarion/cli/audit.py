"""``clarion audit list``: who wrote what, to which object, and when."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from clarion.cli.publishing import echo_json, printable

if TYPE_CHECKING:
    from clarion.context import AppContext


@click.group("audit")
def command() -> None:
    """The audit log: every write, from the API (by key name), the console and the CLI."""


def _moment(value: str | None, option: str) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 time with its offset."""
    if value is None:
        return None
    from datetime import UTC, date

    from clarion.cli.publishing import parse_time

    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return parse_time(value, option)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@command.command("list")
@click.option(
    "--actor",
    help="Only this actor: an API key's name, a user's e-mail, "
    "cli:<OS user>, system:automation (or an actor's id).",
)
@click.option(
    "--object",
    "object_",
    metavar="TYPE|ID",
    help="Only this object type (incident, maintenance, component, api_key, "
    "webhook, status_page, outbox) or this object's id.",
)
@click.option("--page", help="Only writes to this status page (its slug or id).")
@click.option("--action", help="Only this action, e.g. incident.create.")
@click.option("--since", help="From this time on: ISO 8601 with offset, or a date (UTC).")
@click.option("--until", help="Before this time: ISO 8601 with offset, or a date (UTC).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of entries, for scripts.")
def list_entries(
    actor: str | None,
    object_: str | None,
    page: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Newest first, one line each: when (UTC), who, action, object type and id, summary."""
    where_since = _moment(since, "--since")
    where_until = _moment(until, "--until")

    async def body(ctx: AppContext) -> tuple[list[dict[str, Any]], bool]:
        from clarion.audit.service import AuditFilter, entry_dict
        from clarion.audit.service import list_entries as read
        from clarion.cli.publishing import find_page

        async with ctx.db.read() as session:
            page_id = (await find_page(session, page)).id if page is not None else None
            rows, more = await read(
                session,
                AuditFilter(
                    actor=actor,
                    object=object_,
                    status_page_id=page_id,
                    action=action,
                    since=where_since,
                    until=where_until,
                    limit=limit,
                ),
            )
        return [entry_dict(row) for row in rows], more

    from clarion.cli.publishing import run

    entries, more = run(body)
    if as_json:
        echo_json(entries)
        return
    if not entries:
        click.echo("no audit log entries", err=True)
    for entry in entries:
        page = f"  page={entry['status_page_id']}" if "status_page_id" in entry else ""
        click.echo(
            "  ".join(
                printable(part)
                for part in (
                    entry["occurred_at"][:19] + "Z",  # to the second
                    entry["actor"]["name"],
                    entry["action"],
                    f"{entry['object']['type']} {entry['object']['id']}{page}",
                    entry["summary"],
                )
            )
        )
    if more:
        click.echo(f"(more than {limit}: narrow the filters or raise --limit)", err=True)
