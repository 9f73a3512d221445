"""``clarion export DIR``: write the public site as static files."""

from __future__ import annotations

from pathlib import Path

import click

from clarion.cli.common import load_settings, run_with_context
from clarion.context import AppContext


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--page", "slugs", multiple=True, metavar="SLUG", help="Export only this page (repeatable)."
)
@click.option(
    "--at-root",
    is_flag=True,
    help="Write the one page named by --page at DIR itself, linked from / (for its own domain).",
)
def command(directory: Path, slugs: tuple[str, ...], at_root: bool) -> None:
    """Write the public site (HTML, JSON, feeds, badge, assets) under DIRECTORY.

    Any static web server then serves it as Clarion does: DIRECTORY/<slug>/index.html is the
    page at <base URL>/<slug>. Re-run it (e.g. from cron) to refresh; files are replaced
    atomically.
    """
    from clarion.public.export import ExportError, export_site

    async def body(ctx: AppContext) -> tuple[int, list[str]]:
        report = await export_site(ctx, directory, slugs=list(slugs) or None, at_root=at_root)
        return len(report.files), report.pages

    try:
        count, pages = run_with_context(load_settings(), body)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {len(pages)} page(s), {count} files, to {directory}")
