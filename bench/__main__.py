"""``python -m bench``: the core API benchmark; prints a summary (see docs/performance.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench import core
from bench.client import Result


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, load average {load}"
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b else "  n/a"


def report(runs: list[core.BackendRun], opts: core.Options) -> bool:
    """Print the summary; True when every target is met."""
    small, middle, large = opts.sizes
    ok = True
    print("\n== summary ==")
    print(f"machine: {machine()}")
    print(f"closed loop: {opts.clients} clients, {opts.requests} requests per scenario")
    header = f"{'backend':<11}{'scenario':<26}{'p50':>8}{'p95':>8}{'p99':>8}{'req/s':>9}"
    print(header + f"{'CPU ms/req':>12}{'p50 / healthz':>15}")
    for run in runs:
        for name, r in run.results.items():
            if name.startswith("warmup"):
                continue
            size = name.rsplit("@", 1)[-1]
            base = run.results.get(f"healthz @{size}")
            ratio = _ratio(r.ms(50), base.ms(50)) if base and base is not r else "     -"
            print(
                f"{run.backend:<11}{name:<26}{r.ms(50):8.2f}{r.ms(95):8.2f}{r.ms(99):8.2f}"
                f"{r.throughput:9.1f}{r.server_cpu_ms_per_request:12.2f}{ratio:>15}"
            )
    print("\nclosed-loop targets (p99, ms):")
    for run in runs:
        if not opts.closed_loop:
            break
        listing = run.results[f"list @{middle}"]
        create = run.results[f"create @{middle}"]
        for label, r, target in (
            (f"list @{middle:,}", listing, core.LIST_P99_TARGET_MS),
            (f"create @{middle:,}", create, core.CREATE_P99_TARGET_MS),
        ):
            met = r.ms(99) < target and not r.errors
            ok = ok and met
            print(
                f"  {run.backend:<11}{label:<16} p99 {r.ms(99):7.2f} < {target:4.0f}  "
                f"{'met' if met else 'NOT MET'}"
            )
        a, b = run.results[f"list @{small}"], run.results[f"list @{large}"]
        print(
            f"  {run.backend:<11}list @{large:,} vs @{small:,}: p50 {_ratio(b.ms(50), a.ms(50))}"
            f", p99 {_ratio(b.ms(99), a.ms(99))}, CPU/req "
            f"{_ratio(b.server_cpu_ms_per_request, a.server_cpu_ms_per_request)}"
        )
    if opts.open_loop:
        report_open(runs, opts)
    errors = sum(
        sum(r.errors.values())
        for run in runs
        for r in (*run.results.values(), *run.open_results.values())
    )
    if errors:
        ok = False
        print(f"\n{errors} requests failed (see the lines above)")
    return ok


def highest_passing_rate(run: core.BackendRun, opts: core.Options) -> float | None:
    """The highest offered rate at which list p99 < 25 ms and create p99 < 50 ms both held
    (with no errors and no capped run), provided every lower rate held too."""
    middle = opts.sizes[1]
    best: float | None = None
    for rate in sorted(opts.rates):
        listing = run.open_results.get(core.open_key("list", middle, rate))
        create = run.open_results.get(core.open_key("create", middle, rate))
        if listing is None or create is None:
            break
        held = all(
            r.ms(99) < target and not r.errors and not r.capped
            for r, target in (
                (listing, core.LIST_P99_TARGET_MS),
                (create, core.CREATE_P99_TARGET_MS),
            )
        )
        if not held:
            break
        best = rate
    return best


def report_open(runs: list[core.BackendRun], opts: core.Options) -> None:
    """The open-loop figures: a separate measurement, not a redefinition of the targets."""
    small, middle, large = opts.sizes
    print(
        f"\nopen loop: {opts.clients} clients on a fixed schedule, "
        f"{opts.open_seconds:g} s per rate; latency from the scheduled send time (ms)"
    )
    print(
        f"{'backend':<11}{'scenario':<28}{'offered':>8}{'achieved':>9}{'p50':>10}{'p99':>10}"
        f"{'max':>10}{'CPU ms/req':>12}"
    )
    for run in runs:
        for name, r in run.open_results.items():
            flag = f"  capped, {r.unsent} never sent" if r.capped else ""
            flag += f"  errors {dict(r.errors)}" if r.errors else ""
            print(
                f"{run.backend:<11}{name:<28}{r.offered_rate:8.0f}{r.throughput:9.1f}"
                f"{r.ms(50):10.2f}{r.ms(99):10.2f}{r.ms(100):10.2f}"
                f"{r.server_cpu_ms_per_request:12.2f}{flag}"
            )
    print(
        f"\nopen loop, highest offered rate with list p99 < {core.LIST_P99_TARGET_MS:g} ms and "
        f"create p99 < {core.CREATE_P99_TARGET_MS:g} ms ({middle:,} stored):"
    )
    for run in runs:
        best = highest_passing_rate(run, opts)
        shown = f"{best:g} req/s" if best is not None else f"none of {sorted(opts.rates)}"
        print(f"  {run.backend:<11}{shown}")
        a = run.open_results.get(core.open_key("list", small, opts.compare_rate))
        b = run.open_results.get(core.open_key("list", large, opts.compare_rate))
        if a and b:
            print(
                f"  {run.backend:<11}open-loop list at {opts.compare_rate:g} req/s, "
                f"@{large:,} vs @{small:,}: p50 {_ratio(b.ms(50), a.ms(50))}"
                f" ({a.ms(50):.2f} -> {b.ms(50):.2f} ms), p99 {_ratio(b.ms(99), a.ms(99))}"
                f" ({a.ms(99):.2f} -> {b.ms(99):.2f} ms), CPU/req "
                f"{_ratio(b.server_cpu_ms_per_request, a.server_cpu_ms_per_request)}"
            )


def as_json(runs: list[core.BackendRun], opts: core.Options) -> dict[str, Any]:
    def one(r: Result) -> dict[str, Any]:
        return {
            "n": r.count,
            "errors": r.errors,
            "p50_ms": r.ms(50),
            "p95_ms": r.ms(95),
            "p99_ms": r.ms(99),
            "max_ms": r.ms(100),
            "req_per_s": r.throughput,
            "server_cpu_ms_per_req": r.server_cpu_ms_per_request,
            "server_cpu_share": r.server_cpu / r.wall if r.wall else 0,
            "client_cpu_share": r.client_cpu / r.wall if r.wall else 0,
        }

    return {
        "machine": machine(),
        "clients": opts.clients,
        "requests": opts.requests,
        "runs": {
            run.backend: {
                "seed_seconds": run.seed_seconds,
                "results": {k: one(v) for k, v in run.results.items()},
                "open_loop": {
                    k: {**one(v), "offered_rate": v.offered_rate, "unsent": v.unsent}
                    for k, v in run.open_results.items()
                },
                "open_loop_highest_passing_rate": highest_passing_rate(run, opts),
            }
            for run in runs
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--backend",
        action="append",
        choices=["sqlite", "postgresql"],
        help="database backend (repeatable; default: both)",
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--requests", type=int, default=3_200, help="requests per scenario (3200)")
    parser.add_argument(
        "--time-cap", type=float, default=60.0, help="seconds per scenario at most (60)"
    )
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="stored incidents: small, headline and large (1000,10000,100000)",
    )
    parser.add_argument(
        "--mode",
        choices=["both", "closed", "open"],
        default="both",
        help="closed loop (throughput), open loop (latency at fixed rates) or both (default)",
    )
    parser.add_argument(
        "--rates",
        default="25,50,75,100,150,200,400",
        help="open loop: total offered rates in requests/s (25,50,75,100,150,200,400)",
    )
    parser.add_argument(
        "--open-seconds", type=float, default=8.0, help="open loop: seconds per rate (8)"
    )
    parser.add_argument(
        "--compare-rate",
        type=float,
        default=50.0,
        help="open loop: rate of the small vs large comparison (50)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes: clarion serve --workers (1)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    # A SIGTERM (``timeout``, CI) unwinds like Ctrl-C, so the server is stopped and the
    # temporary databases are dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = tuple(int(x) for x in args.sizes.split(","))
    if len(sizes) != 3 or not sizes[0] < sizes[1] < sizes[2]:
        parser.error("--sizes needs three increasing numbers")
    with tempfile.TemporaryDirectory(prefix="clarion-bench-logs-") as logs:
        opts = core.Options(
            backends=args.backend or ["sqlite", "postgresql"],
            clients=args.clients,
            requests=args.requests,
            time_cap=args.time_cap,
            sizes=(sizes[0], sizes[1], sizes[2]),
            log_dir=Path(logs),
            rates=tuple(float(x) for x in args.rates.split(",")),
            open_seconds=args.open_seconds,
            compare_rate=args.compare_rate,
            open_loop=args.mode in ("both", "open"),
            closed_loop=args.mode in ("both", "closed"),
            workers=args.workers,
        )
        print(f"machine: {machine()}", flush=True)
        runs: list[core.BackendRun] = []
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            for backend in opts.backends:
                try:
                    runs.append(core.run_backend(backend, opts, runner))
                except Exception:
                    for log in Path(logs).glob("bench-serve-*.log"):
                        sys.stderr.write(f"--- {log.name} ---\n{log.read_text()[-4000:]}\n")
                    raise
        ok = report(runs, opts)
        if args.json:
            args.json.write_text(
                orjson.dumps(
                    as_json(runs, opts), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
                ).decode()
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
