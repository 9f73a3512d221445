"""``clarion demo``: a ready-to-look-at status page with history, a key, and the server."""

from __future__ import annotations

from importlib import resources

import click
import yaml

from clarion.cli.common import load_settings, run_with_context
from clarion.context import AppContext


async def prepare_demo(ctx: AppContext) -> tuple[str, str]:
    """Apply the demo declaration, seed history once, make a fresh key; returns (slug, token)."""
    from clarion.api_keys.service import create_key
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
        _key, token = await create_key(
            session,
            "demo",
            ["viewer", "status_page_publisher", "manage_settings"],
            now,
            actor=actor,
        )
    return declaration.pages[0].slug, token


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo data and exit.")
def command(host: str, port: int, no_serve: bool) -> None:
    """Start Clarion with a demo status page (history included) and print its URL and an API key."""
    settings = load_settings()
    if "base_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"base_url": f"http://{host}:{port}"})
    slug, token = run_with_context(settings, prepare_demo)
    base = settings.base_url
    banner = (
        f"\nClarion demo is ready.\n"
        f"  Status page:  {base}/{slug}\n"
        f"  API base URL: {base}\n"
        f"  Demo API key: {token}\n"
        f"  Try: curl -H 'Authorization: Bearer {token}' {base}/v2/status_pages\n"
    )
    if no_serve:
        click.echo(banner)
        return
    from clarion.cli.serve import serve_app

    serve_app(host, port, banner=banner, settings=settings)
