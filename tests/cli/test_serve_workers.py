"""``clarion serve --workers N``: several processes on one port sharing the database, one token
bucket per key, and each other's writes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from clarion.http.ratelimit import SharedFileRateLimiter
from tests.cli.serving import clarion_serve, publisher_token
from tests.contract.checks import check_response
from tests.contract.cli import run_cli
from tests.harness import fresh_database
from tests.processes import children


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    """The server processes that ``pid`` started (not multiprocessing's resource tracker)."""
    servers = []
    for child in children(pid):
        with open(f"/proc/{child}/cmdline", "rb") as handle:
            if b"resource_tracker" not in handle.read():
                servers.append(child)
    return servers


def _listening(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port`` (from ``/proc``)."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                sockets.add(target[len("socket:[") : -1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for row in handle.read().splitlines()[1:]:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in sockets:
                    return True
    return False


def _wait_until_all_listen(pid: int, base: str, workers: int, log: Path) -> list[int]:
    """Until ``workers`` server processes of ``pid`` each listen on ``base``'s port; returns
    them."""
    port = int(base.rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    children: list[int] = []
    while True:
        with contextlib.suppress(OSError):  # a child that exited meanwhile
            children = _children(pid)
            if len(children) == workers and all(_listening(c, port) for c in children):
                return children
        assert time.monotonic() < deadline, (children, log.read_text())
        time.sleep(0.2)


@contextmanager
def serve_workers(url: str, log: Path, workers: int, **env: str) -> Iterator[tuple[str, int]]:
    """``clarion serve --workers N`` once all its processes listen; yields its URL and pid."""
    with clarion_serve(url, log, "--workers", str(workers), **env) as (process, base):
        _wait_until_all_listen(process.pid, base, workers, log)
        yield base, process.pid


async def _burst(base: str, token: str, count: int) -> list[httpx.Response]:
    """``count`` requests at once, each on its own connection (so the kernel spreads them over
    the processes)."""

    async def one() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            return await client.get(
                "/v2/status_pages", headers={"Authorization": f"Bearer {token}"}
            )

    return await asyncio.gather(*(one() for _ in range(count)))


def test_processes_share_one_token_bucket_per_key(database: str, tmp_path: Path) -> None:
    token = publisher_token(database)
    capacity = 40
    with serve_workers(
        database,
        tmp_path / "serve.log",
        2,
        CLARION_RATE_LIMIT_CAPACITY=str(capacity),
        CLARION_RATE_LIMIT_REFILL_PER_SECOND="0.001",
    ) as (base, pid):
        workers = _children(pid)
        assert len(workers) == 2
        before = {w: _cpu_ticks(w) for w in workers}
        responses = asyncio.run(_burst(base, token, 160))
        after = {w: _cpu_ticks(w) for w in workers}
    codes = [r.status_code for r in responses]
    assert codes.count(200) == capacity, codes
    assert codes.count(429) == len(codes) - capacity
    # One bucket: each remaining count from capacity-1 down to 0 was handed out exactly once.
    remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.is_success)
    assert remaining == list(range(capacity))
    for response in responses:
        if response.status_code == 429:
            check_response(response)
            assert response.json()["rate_limit"]["limit"] == capacity
    # Both processes answered part of the burst (else the test would prove nothing).
    assert all(after[w] > before[w] for w in workers), (before, after)


def test_a_write_answered_by_one_process_shows_in_the_next_list_from_any(
    database: str, tmp_path: Path
) -> None:
    token = publisher_token(database)
    headers = {"Authorization": f"Bearer {token}"}
    with serve_workers(database, tmp_path / "serve.log", 2) as (base, _pid):
        page_id = httpx.get(f"{base}/v2/status_pages", headers=headers).json()["status_pages"][0][
            "id"
        ]
        for n in range(12):
            # A new connection per request: consecutive requests land on either process.
            with httpx.Client(base_url=base) as client:
                created = client.post(
                    "/v2/status_page_incidents",
                    headers=headers,
                    json={
                        "status_page_id": page_id,
                        "name": f"Incident {n}",
                        "incident_status": "investigating",
                        "message": "Looking",
                        "notify_subscribers": False,
                        "idempotency_key": uuid.uuid4().hex,
                    },
                )
            assert created.status_code == 201, created.text
            with httpx.Client(base_url=base) as client:
                listed = client.get(
                    "/v2/status_page_incidents",
                    headers=headers,
                    params={"status_page_id": page_id},
                ).json()
            assert (
                listed["status_page_incidents"][0]["id"]
                == (created.json()["status_page_incident"]["id"])
            )
            assert len(listed["status_page_incidents"]) == n + 1


def _spend(path: str, bucket: str, count: int, now: float) -> int:
    async def run() -> int:
        limiter = SharedFileRateLimiter(path)
        allowed = 0
        for _ in range(count):
            allowed += (await limiter.take(bucket, 100, 0.000001, now)).allowed
        await limiter.close()
        return allowed

    return asyncio.run(run())


def test_the_shared_file_limiter_is_exact_across_racing_processes(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    path = str(tmp_path / "buckets")
    SharedFileRateLimiter.create(path, slots=16384)
    now = time.time()
    with ProcessPoolExecutor(max_workers=4) as pool:
        spent = list(pool.map(_spend, [path] * 4, ["key-a"] * 4, [60] * 4, [now] * 4))
    assert sum(spent) == 100  # 240 attempts on a bucket of 100


def test_the_shared_file_limiter_reuses_refilled_slots_and_keeps_keys_apart(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "buckets")
    SharedFileRateLimiter.create(path, slots=8)

    async def run() -> None:
        limiter = SharedFileRateLimiter(path, slots=8, probe=8)
        now = 1000.0
        # Eight keys fill the table; each has its own bucket of 2.
        for n in range(8):
            assert (await limiter.take(f"k{n}", 2, 1.0, now)).remaining == 1
        assert (await limiter.take("k3", 2, 1.0, now)).remaining == 0
        assert not (await limiter.take("k3", 2, 1.0, now)).allowed
        # One second later every other bucket is full again, so a ninth key finds a slot
        # without disturbing k3, which is still refilling.
        later = now + 1.0
        assert (await limiter.take("k8", 2, 1.0, later)).remaining == 1
        decision = await limiter.take("k3", 2, 1.0, later)
        assert decision.allowed and decision.remaining == 0
        await limiter.close()

    asyncio.run(run())


def test_a_process_that_dies_is_replaced(database: str, tmp_path: Path) -> None:
    import signal

    log = tmp_path / "serve.log"
    with serve_workers(database, log, 2) as (base, pid):
        first = _children(pid)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while first[0] in _children(pid):
            assert time.monotonic() < deadline, first
            time.sleep(0.2)
        now = _wait_until_all_listen(pid, base, 2, log)
        assert first[0] not in now
        # The new process serves: new connections are spread over both (SO_REUSEPORT).
        before = {w: _cpu_ticks(w) for w in now}
        for _ in range(60):
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        after = {w: _cpu_ticks(w) for w in now}
        assert all(after[w] > before[w] for w in now), (before, after)
    assert "starting another" in log.read_text()


TWO_PAGES = """\
components:
  - {key: api, name: API}
  - {key: web, name: Website}
status_pages:
  - slug: first
    name: First
    items:
      - component: api
  - slug: second
    name: Second
    items:
      - component: web
"""


def test_concurrent_creates_on_two_pages_from_two_processes_all_commit(tmp_path: Path) -> None:
    """Two processes writing to the same pages at once (SQLite: taking turns across
    processes; PostgreSQL: concurrent transactions moving the same pages' versions) neither
    fail nor lose a create, and both processes do a share of the work."""
    with fresh_database(str(tmp_path)) as url:
        run_cli(url, "db", "upgrade")
        declaration = tmp_path / "pages.yaml"
        declaration.write_text(TWO_PAGES)
        run_cli(url, "apply", str(declaration))
        token = publisher_token(url)
        headers = {"Authorization": f"Bearer {token}"}
        with serve_workers(url, tmp_path / "serve.log", 2) as (base, pid):
            pages = httpx.get(f"{base}/v2/status_pages", headers=headers).json()["status_pages"]
            page_ids = [p["id"] for p in pages]
            assert len(page_ids) == 2
            workers = _children(pid)
            before = {w: _cpu_ticks(w) for w in workers}

            async def create(n: int, gate: asyncio.Semaphore) -> httpx.Response:
                async with gate, httpx.AsyncClient(base_url=base, timeout=60) as client:
                    return await client.post(
                        "/v2/status_page_incidents",
                        headers=headers,
                        json={
                            "status_page_id": page_ids[(n * 7919 // 13) % 2],
                            "name": f"Incident {n}",
                            "incident_status": "investigating",
                            "message": "Looking",
                            "notify_subscribers": False,
                            "idempotency_key": f"two-pages-{n}",
                        },
                    )

            async def burst() -> list[httpx.Response]:
                gate = asyncio.Semaphore(48)
                return await asyncio.gather(*(create(n, gate) for n in range(400)))

            responses = asyncio.run(burst())
            after = {w: _cpu_ticks(w) for w in workers}
            codes = [r.status_code for r in responses]
            assert codes == [201] * len(codes), [r.text for r in responses if r.status_code != 201]
            stored = 0
            for page_id in page_ids:
                listed = httpx.get(
                    f"{base}/v2/status_page_incidents",
                    headers=headers,
                    params={"status_page_id": page_id, "page_size": 250},
                ).json()
                stored += len(listed["status_page_incidents"])
                after_id = listed.get("pagination_meta", {}).get("after")
                while after_id:
                    listed = httpx.get(
                        f"{base}/v2/status_page_incidents",
                        headers=headers,
                        params={"status_page_id": page_id, "page_size": 250, "after": after_id},
                    ).json()
                    stored += len(listed["status_page_incidents"])
                    after_id = listed.get("pagination_meta", {}).get("after")
            assert stored == len(codes)
        assert all(after[w] > before[w] for w in workers), (before, after)


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        pairs = [item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item]
    return {name.decode(): value.decode() for name, value in pairs}


def test_the_processes_share_the_default_connection_budget(database: str, tmp_path: Path) -> None:
    # Unset: the default pool (32) is shared out, so two processes keep 16 each and open no
    # more PostgreSQL connections in all than one process would.
    with serve_workers(database, tmp_path / "serve.log", 2) as (base, pid):
        sizes = {_environ(child).get("CLARION_DB_POOL_SIZE") for child in _children(pid)}
        assert httpx.get(f"{base}/healthz").status_code == 200
    assert sizes == {"16"}
    # Set: each process keeps what the operator asked for.
    with serve_workers(database, tmp_path / "serve.log", 2, CLARION_DB_POOL_SIZE="10") as (_, pid):
        sizes = {_environ(child).get("CLARION_DB_POOL_SIZE") for child in _children(pid)}
    assert sizes == {"10"}
