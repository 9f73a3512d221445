"""A process's children and descendants, read from Linux's ``/proc``."""

from __future__ import annotations

import os


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that still run (or wait to be reaped)."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found.extend(int(child) for child in handle.read().split())
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it; one that exits meanwhile is left out."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            todo.extend(children(current))
        except OSError:  # it exited
            continue
        found.append(current)
    return found
