"""``clarion outbox``: see and re-drive notification deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from clarion.audit import Actor
from clarion.cli.common import load_settings, run_with_context

if TYPE_CHECKING:
    from clarion.context import AppContext

#: ``clarion.notifications.models.STATUSES``, named here so that ``--help`` imports no
#: database code (a test checks that the two agree).
STATUSES = ("pending", "sending", "sent", "failed", "dead")


@click.group("outbox")
def command() -> None:
    """Notification deliveries (e-mail and webhooks) waiting, sent, failed or dead."""


@command.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only rows in this state.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
def list_rows(status: str | None, limit: int) -> None:
    """Newest first: id, status, channel, kind, subscription, attempts, next attempt or sent
    time, last error. A summary of counts per status goes to stderr."""
    from clarion.notifications import admin
    from clarion.text import terminal_safe

    async def body(ctx: AppContext) -> tuple[list[str], dict[str, int]]:
        async with ctx.db.read() as session:
            rows = await admin.list_messages(session, status, limit)
            counts = await admin.count_by_status(session)
        lines = []
        for row, target in rows:
            when = row.sent_at if row.status == "sent" else row.next_attempt_at
            error = f"  error: {row.last_error}" if row.last_error else ""
            lines.append(
                f"{row.id}  {row.status}  {row.channel}  {row.kind}  {row.subscription_id} "
                f"({target})  attempts={row.attempts}  {when:%Y-%m-%d %H:%M:%S}{error}"
            )
        return lines, counts

    lines, counts = run_with_context(load_settings(), body)
    for line in lines:
        # Addresses, URLs and errors come from outside: print them, never act them out.
        click.echo(terminal_safe(line))
    summary = ", ".join(f"{name} {counts.get(name, 0)}" for name in STATUSES)
    click.echo(summary, err=True)


@command.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Every failed and dead row.")
def retry(ids: tuple[str, ...], all_failed: bool) -> None:
    """Queue failed or dead rows again (now, with a fresh attempt count). A disabled
    subscription of a retried row is enabled again, its failure count reset."""
    if not ids and not all_failed:
        raise click.UsageError("name row ids or pass --all-failed")
    if ids and all_failed:
        raise click.UsageError("name row ids or pass --all-failed, not both")
    from clarion.notifications import admin

    async def body(ctx: AppContext) -> tuple[int, list[str]]:
        async with ctx.db.write() as session:
            return await admin.retry(session, list(ids) or None, ctx.clock.now(), actor=Actor.cli())

    count, skipped = run_with_context(load_settings(), body)
    for row_id in skipped:
        click.echo(f"{row_id}: not failed or dead (or unknown); left alone", err=True)
    click.echo(f"queued {count} again")
    if skipped:
        raise SystemExit(1)
