"""How fast the CLI answers ``--help``: ``python -m bench.cli_help`` (``make bench-cli-help``).

Runs the installed ``clarion`` command (the environment's console script, as users run it) with
``--help``, and each subcommand with ``--help``, several times each after one warm-up run, and
measures each process's CPU time (user + system, from ``wait4``). Nothing touches a database,
so the figure has no backend. Target: under 0.3 s for ``clarion --help`` (median) and for the
slowest subcommand's ``--help`` (its median).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import Figure, Target, run_and_report

TARGET_SECONDS = 0.3
RUNS = 10
#: Subcommands whose help is measured: every top-level one, and a nested one.
SUBCOMMANDS = (
    ("serve",),
    ("worker",),
    ("demo",),
    ("apply",),
    ("export",),
    ("keys",),
    ("keys", "create"),
    ("db",),
    ("outbox",),
    ("subscribers",),
)


def clarion_command() -> str:
    """The ``clarion`` console script of the environment this benchmark runs in."""
    script = Path(sys.executable).parent / "clarion"
    if not script.exists():
        raise SystemExit(f"{script} not found: run `uv sync` first")
    return str(script)


def cpu_seconds(args: list[str]) -> float:
    """The CPU time (user + system) of one run of ``args``, which must succeed."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errors)
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace")
            raise SystemExit(f"{' '.join(args)} failed ({process.returncode}): {message}")
    return usage.ru_utime + usage.ru_stime


def median_cpu(args: list[str], runs: int) -> tuple[float, float]:
    """The median and the largest CPU time of ``runs`` runs of ``args``, after a warm-up run
    (which compiles what Python has not cached yet)."""
    cpu_seconds(args)
    found = [cpu_seconds(args) for _ in range(runs)]
    return statistics.median(found), max(found)


def run(_backends: list[str], _log_dir: Path, runs: int = RUNS) -> list[Figure]:
    clarion = clarion_command()
    target = Target(TARGET_SECONDS)
    median, slowest = median_cpu([clarion, "--help"], runs)
    print(f"clarion --help: median {median:.3f} s CPU, slowest {slowest:.3f} s", flush=True)
    sub_medians: dict[str, float] = {}
    for path in SUBCOMMANDS:
        name = " ".join(path)
        sub_medians[name], _ = median_cpu([clarion, *path, "--help"], runs)
        print(f"clarion {name} --help: median {sub_medians[name]:.3f} s CPU", flush=True)
    worst = max(sub_medians, key=sub_medians.__getitem__)
    return [
        Figure(f"clarion --help CPU (median of {runs})", "-", median, "s", target),
        Figure(f"clarion --help CPU (slowest of {runs})", "-", slowest, "s"),
        Figure(
            f"clarion SUBCOMMAND --help CPU (slowest: {worst}, median of {runs})",
            "-",
            sub_medians[worst],
            "s",
            target,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m bench.cli_help", description=__doc__).parse_args(argv)
    return run_and_report(run, None)


if __name__ == "__main__":
    sys.exit(main())
