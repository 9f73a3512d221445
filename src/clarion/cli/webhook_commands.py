"""``clarion subscribers add-webhook | enable-webhook | remove-webhook | rotate-webhook-secret``
(added to the ``subscribers`` group)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import click

from clarion.audit import Actor
from clarion.cli.common import load_settings, run_with_context

if TYPE_CHECKING:
    from clarion.context import AppContext

T = TypeVar("T")


def _run(body: Callable[[AppContext], Awaitable[T]]) -> T:
    """``run_with_context`` with the settings from the environment; a missing webhook or
    refused input becomes the command's error message."""
    from clarion.errors import NotFound, ValidationFailed

    try:
        return run_with_context(load_settings(), body)
    except (NotFound, ValidationFailed) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("add-webhook")
@click.option("--page", "page", required=True, help="The status page (its slug or id).")
@click.option(
    "--component",
    "components",
    multiple=True,
    help="Only events touching this component (its key from `clarion apply`, or its id); "
    "repeat for several. Without it the webhook hears about the whole page.",
)
@click.argument("url")
def add_webhook(page: str, components: tuple[str, ...], url: str) -> None:
    """Send the page's notifications to URL (http or https), signed per Standard Webhooks.

    Prints the signing secret (whsec_…) alone on stdout; it is what receivers verify
    signatures with. Private, loopback and link-local targets are refused unless
    CLARION_WEBHOOK_ALLOW_PRIVATE is set.
    """

    async def body(ctx: AppContext) -> tuple[str, str]:
        from clarion.notifications import webhooks

        async with ctx.db.write() as session:
            subscription, secret = await webhooks.add_webhook(
                session,
                page=page,
                url=url,
                components=components,
                allow_private=ctx.settings.webhook_allow_private,
                now=ctx.clock.now(),
                actor=Actor.cli(),
            )
        return subscription.id, secret

    subscription_id, secret = _run(body)
    click.echo(f"added webhook subscription {subscription_id}", err=True)
    click.echo(secret)


@click.command("enable-webhook")
@click.argument("subscription_id")
def enable_webhook(subscription_id: str) -> None:
    """Enable a webhook that was disabled after failed deliveries (its failure count is
    reset). Messages that failed meanwhile are re-driven with `clarion outbox retry`."""

    async def body(ctx: AppContext) -> None:
        from clarion.notifications import webhooks

        async with ctx.db.write() as session:
            await webhooks.enable_webhook(
                session, subscription_id, ctx.clock.now(), actor=Actor.cli()
            )

    _run(body)
    click.echo(f"enabled webhook subscription {subscription_id}", err=True)


@click.command("remove-webhook")
@click.argument("subscription_id")
def remove_webhook(subscription_id: str) -> None:
    """Stop sending to a webhook; messages still queued for it are dropped."""

    async def body(ctx: AppContext) -> None:
        from clarion.notifications import webhooks

        async with ctx.db.write() as session:
            await webhooks.remove_webhook(
                session, subscription_id, ctx.clock.now(), actor=Actor.cli()
            )

    _run(body)
    click.echo(f"removed webhook subscription {subscription_id}", err=True)


@click.command("rotate-webhook-secret")
@click.option(
    "--keep-old-hours",
    default=24.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How long messages also carry a signature made with the old secret, so the receiver "
    "can switch over without rejecting anything (0: drop the old secret at once).",
)
@click.argument("subscription_id")
def rotate_webhook_secret(subscription_id: str, keep_old_hours: float) -> None:
    """Give a webhook a new signing secret; prints it (whsec_…) alone on stdout."""

    async def body(ctx: AppContext) -> str:
        from clarion.notifications import webhooks

        async with ctx.db.write() as session:
            return await webhooks.rotate_secret(
                session,
                subscription_id,
                ctx.clock.now(),
                timedelta(hours=keep_old_hours),
                actor=Actor.cli(),
            )

    secret = _run(body)
    click.echo(
        f"rotated the signing secret of webhook subscription {subscription_id}"
        + (f"; the old one also signs for {keep_old_hours:g} h" if keep_old_hours else ""),
        err=True,
    )
    click.echo(secret)


commands = [add_webhook, enable_webhook, remove_webhook, rotate_webhook_secret]
