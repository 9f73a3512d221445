"""Background work: the periodic jobs of ``clarion.jobs`` (outbox delivery, maintenance
automation, reminders, clean-up). Runs inside ``clarion serve`` on a single node and as
``clarion worker`` beside replicas. Every job is driven by stored state, so any number of
workers may run at once and a restarted one catches up."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from clarion.context import AppContext
from clarion.jobs import Job, all_jobs

log = logging.getLogger("clarion.worker")


async def run_once(ctx: AppContext) -> int:
    """Run every job once (tests and ``clarion worker --once``)."""
    done = 0
    for job in all_jobs():
        try:
            done += await job.run(ctx)
        except Exception:
            log.exception("job %s failed", job.name)
    return done


async def _loop(ctx: AppContext, job: Job, stop: asyncio.Event) -> None:
    while job.forever is not None and not stop.is_set():
        try:
            await job.forever(ctx, stop)
        except Exception:
            log.exception("job %s failed", job.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=job.interval_seconds)
    while not stop.is_set():
        try:
            did = await job.run(ctx)
        except Exception:
            log.exception("job %s failed", job.name)
            did = 0
        if did:
            continue  # more may be waiting
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=job.interval_seconds)


async def run_forever(ctx: AppContext, stop: asyncio.Event) -> None:
    """Run every job in its own loop until ``stop`` is set."""
    jobs = all_jobs()
    log.info("worker running jobs: %s", ", ".join(j.name for j in jobs) or "none")
    await asyncio.gather(*(_loop(ctx, job, stop) for job in jobs))
