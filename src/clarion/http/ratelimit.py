"""Token-bucket rate limiting per API key (1200 tokens, refilling 20/s by default).

``InProcessRateLimiter`` keeps buckets in memory (one process, the SQLite default);
``RedisRateLimiter`` keeps them in Redis so that replicas share one bucket per key.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    #: seconds until one token is available (0 when allowed)
    retry_after: float
    #: seconds until the bucket is full again
    full_after: float


class RateLimiter(Protocol):
    async def take(
        self, bucket: str, capacity: int, refill_per_second: float, now: float
    ) -> Decision: ...

    async def close(self) -> None: ...


def _refill(tokens: float, last: float, capacity: int, rate: float, now: float) -> float:
    return min(float(capacity), tokens + max(0.0, now - last) * rate)


class InProcessRateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = asyncio.Lock()

    async def take(
        self, bucket: str, capacity: int, refill_per_second: float, now: float
    ) -> Decision:
        # The lock is uncontended in practice; it keeps read-modify-write atomic if a future
        # change ever awaits inside.
        async with self._lock:
            tokens, last = self._buckets.get(bucket, (float(capacity), now))
            tokens = _refill(tokens, last, capacity, refill_per_second, now)
            if tokens >= 1.0:
                tokens -= 1.0
                self._buckets[bucket] = (tokens, now)
                return Decision(True, int(tokens), 0.0, (capacity - tokens) / refill_per_second)
            self._buckets[bucket] = (tokens, now)
            return Decision(
                False,
                0,
                (1.0 - tokens) / refill_per_second,
                (capacity - tokens) / refill_per_second,
            )

    async def close(self) -> None:
        return None


_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil then tokens = capacity; last = now end
local elapsed = now - last
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url)
        self._script = self._redis.register_script(_LUA)

    async def take(
        self, bucket: str, capacity: int, refill_per_second: float, now: float
    ) -> Decision:
        allowed, raw = await self._script(
            keys=[f"clarion:ratelimit:{bucket}"], args=[capacity, refill_per_second, now]
        )
        tokens = float(raw)
        full_after = (capacity - tokens) / refill_per_second
        if int(allowed) == 1:
            return Decision(True, int(tokens), 0.0, full_after)
        return Decision(False, 0, (1.0 - tokens) / refill_per_second, full_after)

    async def close(self) -> None:
        await self._redis.aclose()


def headers_for(
    decision: Decision, capacity: int, window_seconds: int, now: float
) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers for one decision."""
    return {
        "X-RateLimit-Limit": f"{capacity}, {capacity};window={window_seconds}",
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Used": str(capacity - decision.remaining),
        "X-RateLimit-Reset": str(math.ceil(now + decision.full_after)),
    }
