"""The per-key token bucket, hit by truly concurrent requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.utilities_v1 import utilities_v1_identity as identity
from incident_io.models import ErrorResponse

from tests.contract.checks import SDK_HTTPX_ARGS, Raw, check_response
from tests.factories import make_key
from tests.harness import LiveServer, fresh_database, live_server

CAPACITY = 50
#: One token every 20 s: the burst below finishes long before a token comes back.
REFILL = 0.05
RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
)


@pytest.fixture(scope="module")
def small_bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("ratelimit")
    with (
        fresh_database(str(tmp)) as url,
        live_server(url, rate_limit_capacity=CAPACITY, rate_limit_refill_per_second=REFILL) as srv,
    ):
        yield srv


async def _burst(base_url: str, token: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=60,
    ) as client:
        responses = await asyncio.gather(*(client.get("/v1/identity") for _ in range(count)))
        for response in responses:
            await response.aread()
        return list(responses)


def test_a_concurrent_burst_gets_exactly_the_bucket_and_then_429s(
    small_bucket: LiveServer,
) -> None:
    token = make_key(small_bucket, "viewer")
    responses = asyncio.run(_burst(small_bucket.base_url, token, 80))
    for response in responses:
        check_response(response)
        for header in RATE_HEADERS:
            assert header in response.headers, (response.status_code, header)
        assert response.headers["x-ratelimit-limit"] == f"{CAPACITY}, {CAPACITY};window=1000"
    ok = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(ok) == CAPACITY
    assert len(limited) == 80 - CAPACITY
    # Every token was handed out exactly once.
    assert sorted(int(r.headers["x-ratelimit-remaining"]) for r in ok) == list(range(CAPACITY))
    assert {int(r.headers["x-ratelimit-used"]) for r in ok} == set(range(1, CAPACITY + 1))

    now = datetime.now(UTC)
    for response in limited:
        body = response.json()
        assert body["type"] == "too_many_requests"
        assert body["status"] == 429
        assert body["errors"][0]["code"] == "too_many_requests"
        assert body["errors"][0]["message"].startswith("Too many requests hit the API")
        rate = body["rate_limit"]
        assert rate["limit"] == CAPACITY
        assert rate["remaining"] == 0
        assert isinstance(rate["name"], str) and rate["name"]
        retry_at = datetime.fromisoformat(rate["retry_after"])
        assert retry_at.tzinfo is not None and rate["retry_after"].endswith("Z")
        wait = int(response.headers["retry-after"])
        assert 1 <= wait <= 21
        assert now < retry_at <= now + timedelta(seconds=wait + 5)
        assert response.headers["x-ratelimit-remaining"] == "0"
        reset = int(response.headers["x-ratelimit-reset"])
        assert reset > time.time()


def test_buckets_are_per_key_and_refill_with_time(small_bucket: LiveServer) -> None:
    first = make_key(small_bucket, "viewer", name="first")
    second = make_key(small_bucket, "viewer", name="second")
    responses = asyncio.run(_burst(small_bucket.base_url, first, CAPACITY + 1))
    assert sorted(r.status_code for r in responses) == [200] * CAPACITY + [429]
    wait = int(next(r for r in responses if r.status_code == 429).headers["retry-after"])

    other = Raw(small_bucket.base_url, second)
    response = other.get("/v1/identity")
    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining"] == str(CAPACITY - 1)
    other.close()

    with AuthenticatedClient(
        base_url=small_bucket.base_url, token=first, httpx_args=SDK_HTTPX_ARGS
    ) as sdk:
        limited = identity.sync_detailed(client=sdk)
    assert limited.status_code == 429
    assert isinstance(limited.parsed, ErrorResponse)
    assert limited.parsed.rate_limit.limit == CAPACITY
    assert limited.parsed.rate_limit.remaining == 0

    raw = Raw(small_bucket.base_url, first)
    assert raw.get("/v1/identity").status_code == 429
    small_bucket.clock.offset += timedelta(seconds=wait)
    try:
        refilled = raw.get("/v1/identity")
        assert refilled.status_code == 200
        assert raw.get("/v1/identity").status_code == 429  # one token came back, not more
        small_bucket.clock.offset += timedelta(seconds=CAPACITY / REFILL)
        full = raw.get("/v1/identity")
        assert full.status_code == 200
        assert full.headers["x-ratelimit-remaining"] == str(CAPACITY - 1)
    finally:
        raw.close()


def test_the_default_bucket_is_1200_refilling_20_per_second(server: LiveServer, token: str) -> None:
    raw = Raw(server.base_url, token)
    first = raw.get("/v2/status_pages")
    assert first.headers["x-ratelimit-limit"] == "1200, 1200;window=60"
    assert first.headers["x-ratelimit-remaining"] == "1199"
    assert first.headers["x-ratelimit-used"] == "1"
    reset = int(first.headers["x-ratelimit-reset"])
    assert time.time() - 1 <= reset <= time.time() + 3
    responses = asyncio.run(_burst(server.base_url, token, 40))
    assert all(r.status_code == 200 for r in responses)
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in responses]
    assert all(1200 - 42 <= n <= 1199 for n in remaining), remaining
    raw.close()
