"""What a running Clarion holds: settings, database, clock and the pluggable infrastructure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clarion.clock import Clock, SystemClock
from clarion.db.engine import Database
from clarion.http.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from clarion.settings import Settings


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
        if settings.redis_url:
            limiter = RedisRateLimiter(settings.redis_url)
        else:
            limiter = InProcessRateLimiter()
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            clock=clock or SystemClock(),
            rate_limiter=limiter,
        )

    async def close(self) -> None:
        await self.rate_limiter.close()
        await self.db.dispose()
