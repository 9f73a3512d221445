"""What a running Clarion holds: settings, database, clock and the pluggable infrastructure,
assembled once (``AppContext.build``) and handed to what needs it."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field

from clarion.clock import Clock, SystemClock
from clarion.console.parts import PageParts
from clarion.db.engine import Database
from clarion.events import EventSink
from clarion.http.list_cache import ListCache
from clarion.http.ratelimit import (
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    SharedFileRateLimiter,
)
from clarion.ids import new_id
from clarion.lru import MIB
from clarion.notifications.channels import Channels
from clarion.settings import Settings

#: Set by ``clarion serve --workers N`` for its worker processes: the file of their shared rate
#: limit buckets (not a setting; Redis, when configured, takes precedence).
SHARED_RATE_LIMIT_FILE = "CLARION_INTERNAL_SHARED_RATE_LIMIT_FILE"


def instance_name() -> str:
    """Names this running Clarion where it leases work (host, process, random suffix)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{new_id()[-6:]}"


@dataclass
class AppContext:
    settings: Settings
    db: Database
    clock: Clock
    rate_limiter: RateLimiter
    #: Where services record domain events (the notification outbox).
    events: EventSink
    #: The API's serialised lists, per status page content version.
    list_cache: ListCache
    #: The console's component groups of each page, per content version.
    page_parts: PageParts = field(default_factory=PageParts)
    channels: Channels = field(default_factory=Channels)
    #: This process's name in the outbox's leases.
    instance_id: str = field(default_factory=instance_name)
    #: The stored signing key of subscriber links, once read (``subscribers.tokens``).
    signing_key: bytes | None = None
    signing_key_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> AppContext:
        from clarion.notifications.outbox import Outbox

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
            db=Database(
                settings.database_url,
                pool_size=settings.db_pool_size,
                lock_timeout_seconds=settings.db_lock_timeout_seconds,
                statement_timeout_seconds=settings.db_statement_timeout_seconds,
                connect_timeout_seconds=settings.db_connect_timeout_seconds,
            ),
            clock=clock or SystemClock(),
            rate_limiter=limiter,
            events=Outbox(settings),
            list_cache=ListCache(settings.api_list_cache_entries, settings.api_list_cache_mb * MIB),
        )

    async def close(self) -> None:
        await self.channels.close()
        await self.rate_limiter.close()
        await self.db.dispose()
