"""``clarion subscribers``: see who hears about each page (e-mail and webhooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from clarion.cli.common import load_settings, run_with_context
from clarion.cli.webhook_commands import commands as webhook_commands

if TYPE_CHECKING:
    from clarion.context import AppContext


@click.group("subscribers")
def command() -> None:
    """Subscribers of the status pages: e-mail addresses and webhook endpoints."""


for _webhook_command in webhook_commands:  # add-webhook, enable-webhook, remove-webhook
    command.add_command(_webhook_command)


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


@command.command("list")
@click.option("--page", "page_slug", help="Only this status page (its slug).")
def list_subscribers(page_slug: str | None) -> None:
    """One line per subscription: id, page, channel, address or URL, state, components,
    consecutive failures. State is active, pending (not confirmed), unsubscribed or disabled
    (after a run of failed deliveries; `clarion outbox retry` re-drives and re-enables)."""
    from clarion.subscribers import service
    from clarion.text import terminal_safe

    async def body(ctx: AppContext) -> list[str]:
        async with ctx.db.read() as session:
            rows = await service.list_subscriptions(session, page_slug)
        lines = []
        for row in rows:
            sub = row.subscription
            target = sub.email if sub.channel == "email" else _display_url(sub.url or "")
            components = ",".join(sub.component_ids) if sub.component_ids else "whole page"
            state = service.state_of(sub)
            if state == "disabled":
                state = f"disabled {_when(sub.disabled_at)}"
            lines.append(
                f"{sub.id}  {row.page_slug}  {sub.channel}  {target}  {state}  "
                f"components={components}  failures={sub.consecutive_failures}  "
                f"created {_when(sub.created_at)}"
            )
        return lines

    lines = run_with_context(load_settings(), body)
    if not lines:
        click.echo("no subscribers", err=True)
    for line in lines:
        # Addresses, URLs and errors come from outside: print them, never act them out.
        click.echo(terminal_safe(line))


def _display_url(url: str) -> str:
    """The URL without credentials or query (either may hold a secret)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
