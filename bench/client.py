"""Load drivers: N concurrent clients, each on its own keep-alive connection.

Deliberately tiny (raw HTTP/1.1 over asyncio streams on uvloop) so that the driver spends as
little of the shared CPU as possible: on a 2-core machine every cycle the client burns is a
cycle the server does not get. Latency runs to the last byte of the response.

- ``drive``: closed loop. Each client sends a request as soon as the previous response has
  been read (no think time), until a fixed number of requests or a time cap. It measures
  throughput: on a saturated server latency is just clients x CPU per request.
- ``drive_open``: open loop. Requests leave on a fixed schedule at a stated rate, and latency
  runs from the scheduled send time. It measures what a user waits for at that rate.
- ``drive_after_writes``: one client, sequential; an untimed write before each timed request,
  so that every timed request misses the caches keyed by the page's content version.

A scenario's requests may be of several kinds (a mix of reads and writes): each request names
its kind, and latencies are kept per kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import orjson


class Endpoint(Protocol):
    """The server under load: where it listens, and the process whose CPU is counted."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def pid(self) -> int: ...


@dataclass(frozen=True)
class Request:
    """One request: its raw bytes, the kind it is reported under, and the statuses that count
    as success."""

    raw: bytes
    kind: str = "request"
    expect: tuple[int, ...] = (200,)


#: ``make_request(client_index, sequence_number) -> Request``
RequestMaker = Callable[[int, int], Request]


def http_request(
    method: str,
    path: str,
    *,
    host: str,
    token: str | None = None,
    body: bytes | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head + (body or b"")


def rename_incident(host: str, token: str, incident_id: str, count: int) -> Request:
    """``PUT /v2/status_page_incidents/{id}`` with a new name: a write that changes what the
    incident's page shows (and so moves its content version) without adding rows."""
    body = orjson.dumps({"name": f"Elevated error rates (renamed {count})"})
    raw = http_request(
        "PUT", f"/v2/status_page_incidents/{incident_id}", host=host, token=token, body=body
    )
    return Request(raw, "rename")


class Connection:
    """One keep-alive HTTP/1.1 connection (Content-Length and chunked bodies)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self._writer is None or self._reader is None:
            await self.open()
        assert self._writer is not None and self._reader is not None
        reader = self._reader
        self._writer.write(raw)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        chunked = False
        keep_alive = True
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value.strip())
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif lowered == b"connection" and b"close" in value.lower():
                keep_alive = False
        if chunked:
            parts = []
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await reader.readline()
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await reader.readexactly(length)
        if not keep_alive:
            await self.close()
        return status, body

    async def send_reconnecting(self, raw: bytes) -> tuple[int, bytes]:
        """``send``, reconnecting once if the server closed the connection while it was idle."""
        try:
            return await self.send(raw)
        except (ConnectionError, OSError):
            await self.close()
            await self.open()
            return await self.send(raw)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (``q`` in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Latencies:
    """The latencies (seconds) of one kind of request, its unexpected statuses, and the first
    body (the scenario checks it)."""

    samples: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    first_body: bytes = b""

    def record(self, seconds: float, status: int, body: bytes, expect: tuple[int, ...]) -> None:
        self.samples.append(seconds)
        if status not in expect:
            self.errors[status] = self.errors.get(status, 0) + 1
        if not self.first_body:
            self.first_body = body

    @property
    def count(self) -> int:
        return len(self.samples)

    def ms(self, q: float) -> float:
        return percentile(sorted(self.samples), q) * 1000


@dataclass
class Result:
    """One driven scenario: latencies per kind of request, and the CPU each side spent."""

    name: str
    kinds: dict[str, Latencies] = field(default_factory=dict)
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    capped: bool = False
    #: open loop only: the total offered rate (requests/s) and the requests never sent
    offered_rate: float = 0.0
    unsent: int = 0

    def record(self, request: Request, seconds: float, status: int, body: bytes) -> None:
        self.kinds.setdefault(request.kind, Latencies()).record(
            seconds, status, body, request.expect
        )

    def of(self, kind: str) -> Latencies:
        return self.kinds.get(kind, Latencies())

    @property
    def all(self) -> Latencies:
        """Every kind together."""
        merged = Latencies()
        for found in self.kinds.values():
            merged.samples += found.samples
            for status, count in found.errors.items():
                merged.errors[status] = merged.errors.get(status, 0) + count
            merged.first_body = merged.first_body or found.first_body
        return merged

    def ms(self, q: float) -> float:
        return self.all.ms(q)

    @property
    def errors(self) -> dict[int, int]:
        return self.all.errors

    @property
    def count(self) -> int:
        return sum(found.count for found in self.kinds.values())

    @property
    def throughput(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu * 1000 / self.count if self.count else float("nan")

    def describe(self) -> str:
        """One line: latency, rate, CPU, and what went wrong."""
        errors = self.errors
        extra = f"  errors {errors}" if errors else ""
        extra += f"  time cap hit, {self.unsent} never sent" if self.capped else ""
        offered = f"offered {self.offered_rate:5.0f} " if self.offered_rate else ""
        return (
            f"{self.name:<30} n={self.count:<6} p50 {self.ms(50):7.2f}  p99 {self.ms(99):7.2f}"
            f"  max {self.ms(100):7.2f} ms  {offered}achieved {self.throughput:7.1f} req/s  "
            f"server {self.server_cpu_ms_per_request:5.2f} ms CPU/req "
            f"({100 * self.server_cpu / self.wall if self.wall else 0:3.0f}% of a core)  "
            f"client {100 * self.client_cpu / self.wall if self.wall else 0:3.0f}%{extra}"
        )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its live descendants (Linux ``/proc``), so
    that ``clarion serve --workers N`` (or nginx's worker) counts all of its processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    pending.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / ticks


@contextlib.contextmanager
def metered(result: Result, server_pids: tuple[int, ...]) -> Iterator[None]:
    """Fill ``result``'s CPU figures (the server processes' and this process's) for the block;
    its wall time is set by the driver, which knows when the load began."""
    server_before = sum(process_cpu_seconds(pid) for pid in server_pids)
    client_before = time.process_time()
    try:
        yield
    finally:
        result.server_cpu = sum(process_cpu_seconds(pid) for pid in server_pids) - server_before
        result.client_cpu = time.process_time() - client_before


async def _load(
    result: Result,
    target: Endpoint,
    clients: int,
    client: Callable[[Connection, int, float], Awaitable[None]],
    lead: float = 0.0,
) -> None:
    """Run ``client(connection, index, start)`` for each of ``clients`` connections to
    ``target`` at once, the load starting at ``start`` (``lead`` seconds from now); fills
    ``result``'s wall time and CPU figures."""
    connections = [Connection(target.host, target.port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    with metered(result, (target.pid,)):
        start = time.perf_counter() + lead
        try:
            await asyncio.gather(*(client(c, i, start) for i, c in enumerate(connections)))
        finally:
            result.wall = time.perf_counter() - start
            await asyncio.gather(*(c.close() for c in connections))


async def drive(
    name: str,
    target: Endpoint,
    make_request: RequestMaker,
    *,
    clients: int,
    total_requests: int,
    time_cap: float,
    until: Callable[[], bool] = lambda: False,
) -> Result:
    """Run ``total_requests`` requests through ``clients`` closed-loop clients, stopping
    early at ``time_cap`` seconds (marked capped) or as soon as ``until()`` is true."""
    result = Result(name)
    remaining = total_requests

    async def client(conn: Connection, index: int, start: float) -> None:
        nonlocal remaining
        seq = 0
        while remaining > 0 and not until():
            if time.perf_counter() > start + time_cap:
                result.capped = True
                return
            remaining -= 1
            request = make_request(index, seq)
            seq += 1
            sent = time.perf_counter()
            status, body = await conn.send(request.raw)
            result.record(request, time.perf_counter() - sent, status, body)

    await _load(result, target, clients, client)
    return result


async def drive_open(
    name: str,
    target: Endpoint,
    make_request: RequestMaker,
    *,
    clients: int,
    rate: float,
    duration: float,
    time_cap: float,
) -> Result:
    """Offer ``rate`` requests/s in total for ``duration`` seconds through ``clients`` clients.

    Open loop: client ``i`` sends its ``k``-th request at the fixed time
    ``start + (i + k * clients) / rate`` (so the clients' schedules interleave evenly, and
    ``i + k * clients`` numbers the requests in the order they are due), and its latency runs
    from that *scheduled* time to the last byte of the response. A client whose previous
    request is still in flight sends late, and the lateness counts: a slow server cannot hide
    its queueing by slowing the senders down (no coordinated omission). At ``time_cap``
    seconds the run stops, marks itself capped and counts the requests never sent in
    ``unsent`` (their latency would have exceeded the cap, so percentiles are then a lower
    bound).
    """
    result = Result(name, offered_rate=rate)
    per_client = max(1, round(rate * duration / clients))

    async def client(conn: Connection, index: int, start: float) -> None:
        for seq in range(per_client):
            scheduled = start + (index + seq * clients) / rate
            now = time.perf_counter()
            if now > start + time_cap:
                result.capped = True
                result.unsent += per_client - seq
                return
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            request = make_request(index, seq)
            status, body = await conn.send(request.raw)
            result.record(request, time.perf_counter() - scheduled, status, body)

    # The load starts a little later, so that every client is waiting when it begins.
    await _load(result, target, clients, client, lead=0.05)
    return result


async def drive_after_writes(
    name: str,
    target: Endpoint,
    timed: Request,
    write: Callable[[int], Request],
    *,
    count: int,
) -> Result:
    """``count`` sequential ``timed`` requests on one connection, each after ``write(n)``
    (untimed, and checked to succeed)."""
    result = Result(name)
    conn = Connection(target.host, target.port)
    with metered(result, (target.pid,)):
        started = time.perf_counter()
        try:
            for n in range(count):
                before = write(n)
                status, body = await conn.send_reconnecting(before.raw)
                if status not in before.expect:
                    raise RuntimeError(f"{name}: the write answered {status}: {body[:300]!r}")
                sent = time.perf_counter()
                status, body = await conn.send(timed.raw)
                result.record(timed, time.perf_counter() - sent, status, body)
        finally:
            result.wall = time.perf_counter() - started
            await conn.close()
    return result
