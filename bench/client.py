"""Load drivers: N concurrent clients, each on its own keep-alive connection.

Deliberately tiny (raw HTTP/1.1 over asyncio streams on uvloop) so that the driver spends as
little of the shared CPU as possible: on a 2-core machine every cycle the client burns is a
cycle the server does not get. Each client sends a request, waits for the whole response,
records the latency, and sends the next one (no think time). The run stops after a fixed
number of requests in total or at a time cap, whichever comes first (``drive``: closed loop,
which measures throughput; on a saturated server latency = clients x CPU per request).
``drive_open`` is the open-loop driver: requests leave on a fixed schedule at a stated rate,
and latency is measured from the scheduled send time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: ``make_request(client_index, sequence_number) -> raw HTTP/1.1 request bytes``
RequestMaker = Callable[[int, int], bytes]


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


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (``q`` in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Result:
    """Latencies (seconds) of one scenario, with the CPU each side spent on it."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    capped: bool = False
    first_body: bytes = b""
    #: open loop only: the total offered rate (requests/s) and the requests never sent
    offered_rate: float = 0.0
    unsent: int = 0

    def record(self, seconds: float, status: int, body: bytes, expect: tuple[int, ...]) -> None:
        """One response: its latency, its status if unexpected, and the body if it is the
        first (the scenario checks it)."""
        self.latencies.append(seconds)
        if status not in expect:
            self.errors[status] = self.errors.get(status, 0) + 1
        if not self.first_body:
            self.first_body = body

    @property
    def count(self) -> int:
        return len(self.latencies)

    def ms(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000

    @property
    def throughput(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu * 1000 / self.count if self.count else float("nan")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its live descendants (Linux ``/proc``), so
    that ``clarion serve --workers N`` counts all of its processes."""
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


async def drive(
    name: str,
    host: str,
    port: int,
    make_request: RequestMaker,
    *,
    clients: int,
    total_requests: int,
    time_cap: float,
    server_pid: int,
    expect: tuple[int, ...] = (200,),
) -> Result:
    """Run ``total_requests`` requests through ``clients`` closed-loop clients."""
    result = Result(name)
    connections = [Connection(host, port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    remaining = total_requests
    deadline = 0.0

    async def client(index: int) -> None:
        nonlocal remaining
        conn = connections[index]
        seq = 0
        while remaining > 0:
            if time.perf_counter() > deadline:
                result.capped = True
                return
            remaining -= 1
            raw = make_request(index, seq)
            seq += 1
            started = time.perf_counter()
            status, body = await conn.send(raw)
            result.record(time.perf_counter() - started, status, body, expect)

    server_before = process_cpu_seconds(server_pid)
    client_before = time.process_time()
    started = time.perf_counter()
    deadline = started + time_cap
    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        result.wall = time.perf_counter() - started
        result.server_cpu = process_cpu_seconds(server_pid) - server_before
        result.client_cpu = time.process_time() - client_before
        await asyncio.gather(*(c.close() for c in connections))
    return result


async def drive_open(
    name: str,
    host: str,
    port: int,
    make_request: RequestMaker,
    *,
    clients: int,
    rate: float,
    duration: float,
    time_cap: float,
    server_pid: int,
    expect: tuple[int, ...] = (200,),
) -> Result:
    """Offer ``rate`` requests/s in total for ``duration`` seconds through ``clients`` clients.

    Open loop: client ``i`` sends its ``k``-th request at the fixed time
    ``start + i / rate + k * clients / rate`` (so the clients' schedules interleave evenly), and
    its latency runs from that *scheduled* time to the last byte of the response. A client
    whose previous request is still in flight sends late, and the lateness counts: a slow
    server cannot hide its queueing by slowing the senders down (no coordinated omission).
    Each client sends ``round(rate * duration / clients)`` requests at most; at ``time_cap``
    seconds the run stops, marks itself capped and counts the requests never sent in
    ``unsent`` (their latency would have exceeded the cap, so percentiles are then a lower
    bound).
    """
    result = Result(name)
    connections = [Connection(host, port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    per_client = max(1, round(rate * duration / clients))
    interval = clients / rate
    start = 0.0
    deadline = 0.0

    async def client(index: int) -> None:
        conn = connections[index]
        for seq in range(per_client):
            scheduled = start + index / rate + seq * interval
            now = time.perf_counter()
            if now > deadline:
                result.capped = True
                result.unsent += per_client - seq
                return
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            raw = make_request(index, seq)
            status, body = await conn.send(raw)
            result.record(time.perf_counter() - scheduled, status, body, expect)

    server_before = process_cpu_seconds(server_pid)
    client_before = time.process_time()
    # Start a little in the future so that every client is waiting when the schedule begins.
    start = time.perf_counter() + 0.05
    deadline = start + time_cap
    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        result.wall = time.perf_counter() - start
        result.server_cpu = process_cpu_seconds(server_pid) - server_before
        result.client_cpu = time.process_time() - client_before
        result.offered_rate = rate
        await asyncio.gather(*(c.close() for c in connections))
    return result
