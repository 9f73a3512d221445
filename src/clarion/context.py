"""What a running Clarion holds: settings, database, clock and the pluggable infrastructure."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from clarion.clock import Clock, SystemClock
from clarion.db.engine import Database
from clarion.http.ratelimit import (
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    SharedFileRateLimiter,
)
from clarion.settings import Settings

#: Set by ``clarion serve --workers N`` for its worker processes: the file of their shared rate
#: limit buckets (not a setting; Redis, when configured, takes precedence).
SHARED_RATE_LIMIT_FILE = "CLARION_INTERNAL_SHARED_RATE_LIMIT_FILE"


@dataclass
class AppContext:
    settings: Settings
    db: Database
    clock: Clock
    rate_limiter: RateLimiter
    #: Extension slots filled by optional subsystems (render cache, cache bus, mailer ...).
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> AppContext:
        limiter: RateLimiter
        shared = os.environ.get(SHARED_RATE_LIMIT_FILE)
        if settings.redis_url:
            limiter = RedisRateLimiter(settings.redis_url)
        elif shared:
            limiter = SharedFileRateLimiter(shared)
        else:
            limiter = InProcessRateLimiter()
        return cls(
            settings=settings,
            db=Database(settings.database_url, pool_size=settings.db_pool_size),
            clock=clock or SystemClock(),
            rate_limiter=limiter,
        )

    async def close(self) -> None:
        await self.rate_limiter.close()
        await self.db.dispose()
