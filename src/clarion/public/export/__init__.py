"""``clarion export``: the whole public site as files a static server serves identically.

Every page is written under ``DIR/<slug>/`` with the same bytes the live site serves for the
same path (the same renderers; only "Subscribe to updates" differs: it leads to the live site,
see ``ExportContext``), as ``index.html`` files in folders so that the links the pages contain
(``/<slug>/incidents/<id>``, ``/<slug>/history/2026-11``) work on any static host:

    DIR/acme/index.html                      /acme
    DIR/acme/history/index.html              /acme/history
    DIR/acme/history/2026-11/index.html      /acme/history/2026-11
    DIR/acme/incidents/<id>/index.html       /acme/incidents/<id>
    DIR/acme/maintenance/<id>/index.html     /acme/maintenance/<id>
    DIR/acme/api/v2/summary.json, feed.atom, feed.rss, maintenance.ics, badge.svg ...
    DIR/acme/static/clarion.css ...

With ``at_root`` (one page), the page is written at ``DIR/`` and linked from ``/``, for hosting
it on its own domain.

A re-export renders and writes only what changed since the last one:

1. ``DIR/.clarion-export.json`` (the manifest, ``files.Manifest``) lists every file the last
   export wrote, with its page and the key of what its bytes depend on (``plan.plan_page``).
2. A file whose key is unchanged, and which is still on disk, is neither rendered nor written.
   Files without a key (the page, feeds, JSON, badge, assets) are rendered every time and
   written only when their bytes differ.
3. Files the manifest lists that this export did not produce are removed when their page was
   exported or no longer exists (deleted incidents, windows and pages). Nothing the manifest
   does not list is ever removed.

A large export is shared among processes (``start_helpers``): each renders its share of the
files (``plan.share_out``) and the first one gathers what they did, rendering itself whatever a
helper did not deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select as select_fds
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clarion.context import AppContext
from clarion.public.export.files import (
    MANIFEST,
    ExportError,
    Manifest,
    check_target,
    prepare_target,
    remove,
)
from clarion.public.export.plan import ExportContext, export_context, plan_page, share_out
from clarion.public.export.render import Run, pending, render_files
from clarion.public.routes import build_registry
from clarion.settings import Settings
from clarion.status_pages.models import StatusPage

__all__ = [
    "MANIFEST",
    "ExportContext",
    "ExportError",
    "ExportReport",
    "Helper",
    "Progress",
    "check_target",
    "export_site",
    "start_helpers",
    "stop_helpers",
]


class Progress(Protocol):
    """Told how many files the export consists of, then of every file done."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


@dataclass
class ExportReport:
    pages: list[str] = field(default_factory=list)
    #: Every file of the export (written or not).
    files: int = 0
    written: int = 0
    removed: list[Path] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.files - self.written


async def _pages(session: AsyncSession, slugs: list[str] | None, at_root: bool) -> list[StatusPage]:
    query = select(StatusPage).order_by(StatusPage.slug)
    if slugs:
        query = query.where(StatusPage.slug.in_(slugs))
    pages = list((await session.scalars(query)).all())
    missing = set(slugs or []) - {p.slug for p in pages}
    if missing:
        raise ExportError(f"no status page with slug {', '.join(sorted(missing))}")
    if at_root and len(pages) != 1:
        raise ExportError("--at-root exports exactly one page: name it with --page")
    return pages


async def export_site(
    ctx: AppContext,
    out: Path,
    *,
    slugs: list[str] | None = None,
    at_root: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    helpers: Sequence[Helper] = (),
) -> ExportReport:
    """Write the public site of every page (or those in ``slugs``) under ``out``: only what
    changed since the last export, or everything (``full``); with ``helpers`` (started by
    ``start_helpers`` with the same arguments) rendering their shares. See the module."""
    registry = build_registry()
    now = ctx.clock.now()
    tally = _Tally(progress, helpers)
    async with ctx.db.read() as session:
        pages = await _pages(session, slugs, at_root)
        existing = set(await session.scalars(select(StatusPage.id)))
        prepare_target(out)
        run = Run(out, Manifest.read(out), full, tally.done)
        plans = []
        for page in pages:
            page_ctx = export_context(page, ctx.settings, now, at_root=at_root)
            plans.append(await plan_page(session, page, page_ctx, registry, at_root=at_root))
        todos = [pending(plan, run) for plan in plans]
        if progress is not None:
            progress.start(sum(len(plan.files) for plan in plans))
        for plan, todo in zip(plans, todos, strict=True):
            for rest, file in plan.files.items():
                if rest not in todo:
                    run.keep(plan.snap.page.id, file)
        for plan, todo in zip(plans, todos, strict=True):
            owner = share_out(plan, todo, len(helpers) + 1)
            mine = {rest: file for rest, file in todo.items() if owner[rest] == 0}
            await render_files(session, plan, mine, registry, run)
        for helper in helpers:
            helper.collect(run, tally)
        for plan, todo in zip(plans, todos, strict=True):
            missing = {rest: f for rest, f in todo.items() if f.rel not in run.new.files}
            await render_files(session, plan, missing, registry, run)
    report = ExportReport(pages=[plan.snap.page.slug for plan in plans])
    report.files = sum(1 for plan in plans for f in plan.files.values() if f.rel in run.new.files)
    report.written = len(run.written)
    exported = {page.id for page in pages}
    for rel, (page_id, key) in run.old.files.items():
        if rel in run.new.files:
            continue
        if page_id in exported or page_id not in existing:
            removed = remove(out, rel)
            if removed is not None:
                report.removed.append(removed)
        else:  # another page's file, not exported this time: still part of the export
            run.new.files[rel] = (page_id, key)
    run.new.write(out)
    return report


async def _export_share(
    ctx: AppContext,
    out: Path,
    *,
    slugs: list[str] | None,
    at_root: bool,
    full: bool,
    share: tuple[int, int],
    done: Callable[[int], None],
) -> dict[str, Any]:
    """A helper's share (``share``: its index and the number of workers) of ``export_site``:
    the manifest entries of the files it rendered and which of them it wrote."""
    registry = build_registry()
    now = ctx.clock.now()
    index, workers = share
    async with ctx.db.read() as session:
        run = Run(out, Manifest.read(out), full, done)
        for page in await _pages(session, slugs, at_root):
            page_ctx = export_context(page, ctx.settings, now, at_root=at_root)
            plan = await plan_page(session, page, page_ctx, registry, at_root=at_root)
            todo = pending(plan, run)
            owner = share_out(plan, todo, workers)
            mine = {rest: file for rest, file in todo.items() if owner[rest] == index}
            await render_files(session, plan, mine, registry, run)
    return {"files": run.new.files, "written": sorted(run.written)}


# -- helper processes ------------------------------------------------------------------------


@dataclass
class Helper:
    """A forked process rendering one share of the export: it writes a byte to ``progress_fd``
    per file done, and its result (JSON) to ``result_fd`` before it exits."""

    pid: int
    progress_fd: int
    result_fd: int
    finished: bool = False

    def progress(self) -> int:
        """How many files the helper finished since last asked (never waits)."""
        count = 0
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self.progress_fd, 65536):
                count += len(chunk)
        return count

    def collect(self, run: Run, tally: _Tally) -> None:
        """Wait for the helper and merge what it did into ``run`` (nothing if it failed: the
        caller renders what is missing itself)."""
        result = bytearray()
        while True:
            readable, _, _ = select_fds.select([self.progress_fd, self.result_fd], [], [], 0.2)
            tally.advance(self.progress())
            if self.result_fd in readable:
                chunk = os.read(self.result_fd, 1 << 20)
                if not chunk:
                    break
                result += chunk
        tally.advance(self.progress())
        _, status = os.waitpid(self.pid, 0)
        self.finished = True
        self.close()
        if os.waitstatus_to_exitcode(status) != 0:
            return
        with contextlib.suppress(ValueError, TypeError, KeyError):
            found = orjson.loads(result)
            for rel, (page_id, key) in found["files"].items():
                run.new.files[rel] = (page_id, key)
            run.written.update(found["written"])

    def close(self) -> None:
        for fd in (self.progress_fd, self.result_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class _Tally:
    """Progress of every process of the export, told to ``progress``."""

    def __init__(self, progress: Progress | None, helpers: Sequence[Helper]) -> None:
        self.progress = progress
        self.helpers = helpers
        self.count = 0

    def done(self, count: int) -> None:
        self.advance(count)
        self.count += count
        if self.count % 64 == 0:
            for helper in self.helpers:
                if not helper.finished:
                    self.advance(helper.progress())

    def advance(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress.advance(count)


def start_helpers(
    settings: Settings,
    out: Path,
    *,
    slugs: list[str] | None,
    at_root: bool,
    full: bool,
    workers: int,
) -> list[Helper]:
    """Fork ``workers - 1`` helpers, each with its own database connection, for
    ``export_site`` called with the same arguments.

    Call it before this process opens any database connection or starts any thread (forked
    connections and locks are not the child's to use); a helper never returns from here."""
    helpers: list[Helper] = []
    for index in range(1, workers):
        progress_r, progress_w = os.pipe()
        result_r, result_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper
            code = 1
            try:
                for fd in (progress_r, result_r):
                    os.close(fd)
                for helper in helpers:
                    helper.close()
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = _helper_main(
                    settings, out, slugs, at_root, full, (index, workers), progress_w, result_w
                )
            finally:
                os._exit(code)
        os.close(progress_w)
        os.close(result_w)
        os.set_blocking(progress_r, False)
        helpers.append(Helper(pid, progress_r, result_r))
    return helpers


def stop_helpers(helpers: Sequence[Helper]) -> None:
    """End the helpers still running (the export failed or was interrupted)."""
    for helper in helpers:
        if helper.finished:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper.pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(helper.pid, 0)
        helper.finished = True
        helper.close()


def _helper_main(
    settings: Settings,
    out: Path,
    slugs: list[str] | None,
    at_root: bool,
    full: bool,
    share: tuple[int, int],
    progress_fd: int,
    result_fd: int,
) -> int:
    def done(count: int) -> None:
        with contextlib.suppress(OSError):
            os.write(progress_fd, b"." * count)

    async def body() -> dict[str, Any]:
        ctx = AppContext.build(settings)
        try:
            return await _export_share(
                ctx, out, slugs=slugs, at_root=at_root, full=full, share=share, done=done
            )
        finally:
            await ctx.close()

    try:
        view = memoryview(orjson.dumps(asyncio.run(body())))
        while view:
            view = view[os.write(result_fd, view) :]
    except BaseException:  # the first process renders this share itself
        return 1
    return 0
