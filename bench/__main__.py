"""Every benchmark in one run: ``uv run python -m bench [api|public|availability|notifications|
cli_help|console|export ...] [--backend sqlite|postgresql]`` (``make bench``).

Runs the chosen benchmarks (default: all) on the chosen backends (default: both), one after
the other, then prints every figure against its target and the wall time of each benchmark.
Exits with 1 when a target is missed. Each benchmark also runs alone, with more options:
``python -m bench.api --help``, ``bench.public``, ``bench.availability``,
``bench.notifications``, ``bench.console``, ``bench.export``, ``bench.cli_help`` (which has
no backend).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import api, availability, cli_help, console, export, notifications, public, server
from bench.report import Figure, all_met, machine, table

BENCHMARKS: dict[str, Callable[[list[str], Path], list[Figure]]] = {
    "api": api.run,
    "public": public.run,
    "availability": availability.run,
    "notifications": notifications.run,
    "cli_help": cli_help.run,
    "console": console.run,
    "export": export.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "benchmarks", nargs="*", metavar="BENCHMARK", help=f"any of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--backend",
        action="append",
        choices=["sqlite", "postgresql"],
        help="database backend (repeatable; default: both)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.benchmarks) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}")
    backends = args.backend or ["sqlite", "postgresql"]
    server.unwind_on_sigterm()
    print(f"machine: {machine()}", flush=True)
    found: list[Figure] = []
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        for name in args.benchmarks or list(BENCHMARKS):
            started = time.perf_counter()
            log_dir = Path(tmp) / name
            log_dir.mkdir()
            found += BENCHMARKS[name](backends, log_dir)
            walls[name] = time.perf_counter() - started
    print(f"\n== every figure ==\nmachine: {machine()}\n\n{table(found)}\n")
    for name, seconds in walls.items():
        print(f"{name}: {seconds / 60:.1f} min")
    print(f"total: {sum(walls.values()) / 60:.1f} min")
    return 0 if all_met(found) else 1


if __name__ == "__main__":
    sys.exit(main())
