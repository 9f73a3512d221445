"""``clarion demo``: a ready-to-look-at status page with history, a key, and the server."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from clarion.cli.common import load_settings, run_with_context, with_base_url

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from clarion.audit import Actor
    from clarion.context import AppContext
    from clarion.settings import Settings

#: The name of the demo's API key: one live key has it, with a new token at every run.
DEMO_KEY_NAME = "demo"
DEMO_KEY_ROLES = ["viewer", "status_page_publisher", "manage_settings"]
#: The demo's console user, with the key's roles and a new password at every run.
DEMO_USER_EMAIL = "demo@example.com"


@dataclass
class Demo:
    slug: str
    token: str
    password: str


async def renew_demo_user(session: AsyncSession, now: datetime, *, actor: Actor) -> str:
    """Give the console user ``demo@example.com`` a new password (creating the user the first
    time, activating it if it was deactivated); returns the password."""
    from clarion.console import users
    from clarion.errors import NotFound

    password = secrets.token_urlsafe(15)
    try:
        user = await users.user_by_email(session, DEMO_USER_EMAIL)
    except NotFound:
        await users.create_user(
            session, DEMO_USER_EMAIL, password, DEMO_KEY_ROLES, now, actor=actor
        )
        return password
    await users.reset_password(session, DEMO_USER_EMAIL, password, now, actor=actor)
    if user.deactivated_at is not None:
        await users.activate(session, DEMO_USER_EMAIL, now, actor=actor)
    return password


async def prepare_demo(ctx: AppContext) -> Demo:
    """Apply the demo declaration, seed history once, give the key named ``demo`` a new token
    (creating it the first time) and the console user ``demo@example.com`` a new password."""
    from importlib import resources

    import yaml

    from clarion.api_keys.service import renew_named_key
    from clarion.audit import Actor
    from clarion.demo.seed import seed_history
    from clarion.status_pages.declare import apply_declaration, parse_declaration
    from clarion.status_pages.service import page_by_slug

    text = resources.files("clarion.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    declaration = parse_declaration(yaml.safe_load(text))
    now = ctx.clock.now()
    actor = Actor.cli()
    async with ctx.db.write() as session:
        await apply_declaration(session, declaration, now, actor=actor)
        page = await page_by_slug(session, declaration.pages[0].slug)
        assert page is not None
        await seed_history(session, ctx.events, page, now, actor=actor)
        _key, token = await renew_named_key(
            session, DEMO_KEY_NAME, DEMO_KEY_ROLES, now, actor=actor
        )
        password = await renew_demo_user(session, now, actor=actor)
    return Demo(declaration.pages[0].slug, token, password)


def mail_line(settings: Settings) -> str:
    """Where the demo's e-mail goes: the relay of ``CLARION_SMTP_URL`` (its host and port
    only: the URL may hold a password), or nowhere."""
    if not settings.smtp_url:
        return (
            "none is sent (CLARION_SMTP_URL is not set): subscribing works, but no e-mail "
            "arrives.\n                To send it, set CLARION_SMTP_URL=smtp://HOST:PORT "
            "(your relay)."
        )
    from clarion.notifications.email import parse_smtp_url

    try:
        target = parse_smtp_url(settings.smtp_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    scheme = "smtps" if target.implicit_tls else "smtp"
    return f"sent through {scheme}://{target.host}:{target.port} (CLARION_SMTP_URL)"


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo data and exit.")
def command(host: str, port: int, no_serve: bool) -> None:
    """Start Clarion with a demo status page (history included) and print its URL, a console
    sign-in and an API key.

    The key is named demo: each run gives it a new token (the one printed; the previous one
    stops working), and `clarion keys revoke demo` revokes it. The console user
    demo@example.com gets a new password each run the same way. Stop the server with Ctrl-C.
    """
    settings = with_base_url(load_settings(), host, port)
    mail = mail_line(settings)
    demo = run_with_context(settings, prepare_demo)
    base, token = settings.base_url, demo.token
    banner = (
        f"\nClarion demo is ready.\n"
        f"  Status page:  {base}/{demo.slug}\n"
        f"  Console:      {base}/admin (e-mail {DEMO_USER_EMAIL}, password {demo.password})\n"
        f"  API base URL: {base}\n"
        f"  Demo API key: {token}\n"
        f"  E-mail:       {mail}\n"
        f"  Try: curl -H 'Authorization: Bearer {token}' {base}/v2/status_pages\n"
    )
    if not no_serve:
        banner += "  Stop it with Ctrl-C.\n"
    if no_serve:
        click.echo(banner)
        return
    from clarion.cli.serve import serve_app

    serve_app(host, port, banner=banner, settings=settings, migrated=True)
