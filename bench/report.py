"""What every benchmark reports: its figures, each against its target, and the machine."""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench import server


@dataclass(frozen=True)
class Target:
    """A bound a measured value must stay under (``below``) or reach (not ``below``)."""

    bound: float
    below: bool = True

    def holds(self, value: float) -> bool:
        return value < self.bound if self.below else value >= self.bound

    def __str__(self) -> str:
        return f"{'<' if self.below else '>='} {self.bound:g}"


@dataclass(frozen=True)
class Figure:
    """One reported figure. ``target`` None: reported for information. ``ok`` False marks a
    measurement that cannot be trusted (errors, a capped run) whatever its value."""

    name: str
    backend: str
    value: float
    unit: str
    target: Target | None = None
    ok: bool = True
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.ok and self.target.holds(self.value)

    @property
    def verdict(self) -> str:
        return {None: "-", True: "met", False: "NOT MET"}[self.met]


def table(figures: Iterable[Figure]) -> str:
    """The figures as a Markdown table (readable as text too)."""
    lines = [
        "| figure | backend | measured | target | verdict |",
        "|---|---|---:|---:|---|",
    ]
    for f in figures:
        value = f"{f.value:,.2f}" if abs(f.value) < 100 else f"{f.value:,.0f}"
        target = f"{f.target} {f.unit}".strip() if f.target else ""
        note = f" ({f.note})" if f.note else ""
        lines.append(
            f"| {f.name}{note} | {f.backend} | {value} {f.unit} | {target} | {f.verdict} |"
        )
    return "\n".join(lines)


def all_met(figures: Iterable[Figure]) -> bool:
    return all(f.met is not False for f in figures)


def machine() -> str:
    """The CPU, core count, Python and load average, for the top of every report."""
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


def parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with ``--backend``."""
    found = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    found.add_argument(
        "--backend",
        action="append",
        choices=["sqlite", "postgresql"],
        help="database backend (repeatable; default: both)",
    )
    return found


def run_and_report(
    run: Callable[[list[str], Path], list[Figure]], backends: list[str] | None
) -> int:
    """``run`` on ``backends`` (default: both), in a temporary folder for its files; prints
    the machine and every figure; 0 when every target is met, else 1."""
    server.unwind_on_sigterm()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        found = run(backends or ["sqlite", "postgresql"], Path(tmp))
    print(f"\nmachine: {machine()}\n\n{table(found)}")
    return 0 if all_met(found) else 1
