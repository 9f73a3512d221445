"""Token-bucket rate limiting per API key (1200 tokens, refilling 20/s by default).

``InProcessRateLimiter`` keeps buckets in memory (one process, the SQLite default);
``SharedFileRateLimiter`` keeps them in a memory-mapped file that the processes of one
``clarion serve --workers N`` share; ``RedisRateLimiter`` keeps them in Redis so that replicas on
several machines share one bucket per key.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import math
import mmap
import os
import struct
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


def _spend(tokens: float, capacity: int, rate: float) -> tuple[float, Decision]:
    """Take one token from a refilled bucket: its new level and the decision."""
    if tokens >= 1.0:
        tokens -= 1.0
        return tokens, Decision(True, int(tokens), 0.0, (capacity - tokens) / rate)
    return tokens, Decision(False, 0, (1.0 - tokens) / rate, (capacity - tokens) / rate)


class InProcessRateLimiter:
    """Buckets in a dict. A bucket that is full again equals a new one, so every
    ``SWEEP_EVERY`` takes those are dropped: memory follows the keys spending recently (API
    keys, subscribe-form clients), not every key ever seen."""

    SWEEP_EVERY = 4096

    def __init__(self) -> None:
        #: bucket -> (tokens, when they were counted, when the bucket is full again)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._lock = asyncio.Lock()
        self._takes = 0

    async def take(
        self, bucket: str, capacity: int, refill_per_second: float, now: float
    ) -> Decision:
        # The lock is uncontended in practice; it keeps read-modify-write atomic if a future
        # change ever awaits inside.
        async with self._lock:
            tokens, last, _full_at = self._buckets.get(bucket, (float(capacity), now, now))
            tokens = _refill(tokens, last, capacity, refill_per_second, now)
            tokens, decision = _spend(tokens, capacity, refill_per_second)
            self._buckets[bucket] = (tokens, now, now + decision.full_after)
            self._takes += 1
            if self._takes % self.SWEEP_EVERY == 0:
                self._sweep(now)
            return decision

    def _sweep(self, now: float) -> None:
        full = [key for key, (_t, _l, full_at) in self._buckets.items() if full_at <= now]
        for key in full:
            del self._buckets[key]

    async def close(self) -> None:
        return None


#: One bucket: the key's 16-byte BLAKE2b digest (all zeros: a free slot), its tokens, when they
#: were counted, and when the bucket will be full again (from then on it equals a new bucket).
_SLOT = struct.Struct("<16sddd")
_FREE = bytes(16)


class SharedFileRateLimiter:
    """Token buckets in a memory-mapped file shared by the processes of one machine.

    The file is an open-addressing table of ``slots`` buckets; each ``take`` holds an exclusive
    ``flock`` for a few microseconds while it reads and writes one bucket. A key probes up to
    ``probe`` slots from its hash; a slot whose bucket is full again is as good as free, so
    slots are reused as buckets refill. Only when every probed slot holds a bucket that is
    still refilling is the one closest to full taken over, which can only make a limit
    looser, never stricter, and needs more than ``probe`` keys spending at once in one
    neighbourhood.
    """

    def __init__(self, path: str, *, slots: int = 16384, probe: int = 64) -> None:
        self.slots = slots
        self.probe = min(probe, slots)
        size = slots * _SLOT.size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)

    @staticmethod
    def create(path: str, *, slots: int = 16384) -> None:
        """An empty table at ``path`` (all slots free)."""
        with open(path, "wb") as handle:
            handle.truncate(slots * _SLOT.size)

    def _find(self, digest: bytes, now: float) -> int:
        """The slot for ``digest``: its own, else a free or refilled one, else the fullest."""
        start = int.from_bytes(digest[:8], "little") % self.slots
        reusable = -1
        fullest, fullest_at = -1, math.inf
        for step in range(self.probe):
            index = (start + step) % self.slots
            key, _tokens, _last, full_at = _SLOT.unpack_from(self._map, index * _SLOT.size)
            if key == digest:
                return index
            if reusable < 0 and (key == _FREE or full_at <= now):
                reusable = index
            elif full_at < fullest_at:
                fullest, fullest_at = index, full_at
        return reusable if reusable >= 0 else fullest

    async def take(
        self, bucket: str, capacity: int, refill_per_second: float, now: float
    ) -> Decision:
        digest = hashlib.blake2b(bucket.encode(), digest_size=16).digest()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            index = self._find(digest, now)
            offset = index * _SLOT.size
            key, tokens, last, _full_at = _SLOT.unpack_from(self._map, offset)
            if key != digest:
                tokens, last = float(capacity), now
            tokens = _refill(tokens, last, capacity, refill_per_second, now)
            tokens, decision = _spend(tokens, capacity, refill_per_second)
            _SLOT.pack_into(self._map, offset, digest, tokens, now, now + decision.full_after)
            return decision
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def close(self) -> None:
        self._map.close()
        os.close(self._fd)


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
