"""Reminders before scheduled maintenance windows (filled in below)."""

from __future__ import annotations

from clarion.context import AppContext


async def queue_reminders(ctx: AppContext) -> int:
    return 0
