"""Run ``python -m clarion`` in a subprocess against a test database."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(
    database_url: str, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m clarion ARGS`` with ``CLARION_DATABASE_URL=database_url``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CLARION_") or k.startswith("CLARION_TEST")
    }
    env["CLARION_DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-m", "clarion", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result
