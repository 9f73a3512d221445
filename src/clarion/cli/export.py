"""``clarion export DIR``: write the public site as static files."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from clarion.cli.common import load_settings, migrate


class ProgressBar:
    """click's progress bar over the files of the export, drawn once their number is known."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int) -> None:
        self.bar = click.progressbar(
            length=total,
            label="Exporting",
            show_pos=True,
            update_min_steps=max(1, total // 200),
        )
        self.bar.__enter__()

    def advance(self, count: int) -> None:
        self.bar.update(count)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("export")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--page", "slugs", multiple=True, metavar="SLUG", help="Export only this page (repeatable)."
)
@click.option(
    "--at-root",
    is_flag=True,
    help="Write the one page named by --page at DIR itself, linked from / (for its own domain).",
)
@click.option("--full", is_flag=True, help="Render and write every file, not only what changed.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=None,
    help="Processes sharing a full export (default: one per CPU, at most 4; "
    "a re-export that finds its previous files runs in one).",
)
def command(
    directory: Path, slugs: tuple[str, ...], at_root: bool, full: bool, jobs: int | None
) -> None:
    """Write the public site (HTML, JSON, feeds, badge, assets) under DIRECTORY.

    Any static web server then serves it as Clarion does: DIRECTORY/<slug>/index.html is the
    page at <base URL>/<slug>. Re-run it (e.g. from cron) to refresh: only what changed since
    the last export is rendered and written (each file replaced atomically), and the files of
    incidents, windows and pages that no longer exist are removed. A progress bar shows on a
    terminal; otherwise only the summary line is printed.
    """
    started = time.perf_counter()
    from clarion.context import AppContext
    from clarion.public.export import (
        MANIFEST,
        ExportError,
        check_target,
        export_site,
        start_helpers,
        stop_helpers,
    )

    settings = load_settings()
    try:
        check_target(directory)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    if "base_url" not in settings.model_fields_set:
        click.echo(
            "warning: CLARION_BASE_URL is not set: absolute links and 'Subscribe to updates' "
            f"point at {settings.base_url}",
            err=True,
        )
    migrate(settings)
    if jobs is None:
        first = full or not (directory / MANIFEST).is_file()
        jobs = min(os.cpu_count() or 1, 4) if first else 1
    options: dict[str, Any] = {"slugs": list(slugs) or None, "at_root": at_root, "full": full}
    # Forked before this process opens the database (see start_helpers).
    helpers = start_helpers(settings, directory, workers=jobs, **options)
    bar = ProgressBar() if sys.stdout.isatty() else None

    async def run() -> Any:
        ctx = AppContext.build(settings)
        try:
            return await export_site(ctx, directory, progress=bar, helpers=helpers, **options)
        finally:
            if bar is not None:
                bar.finish()
            await ctx.close()

    try:
        report = asyncio.run(run())
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        stop_helpers(helpers)
    click.echo(
        f"exported {len(report.pages)} page(s), {report.files} files "
        f"({report.written} written, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed) in {time.perf_counter() - started:.2f} s, to {directory}"
    )
