"""Run ``python -m clarion`` in a subprocess against a test database."""

from __future__ import annotations

import os
import subprocess
import sys


def cli_environment(database_url: str, **settings: str) -> dict[str, str]:
    """This environment without Clarion's own settings (the test suite's kept), plus
    ``CLARION_DATABASE_URL`` and ``settings`` (``CLARION_*`` names)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CLARION_") or k.startswith("CLARION_TEST")
    }
    env.update(CLARION_DATABASE_URL=database_url, **settings)
    return env


def run_cli(
    database_url: str, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m clarion ARGS`` with ``CLARION_DATABASE_URL=database_url``."""
    result = subprocess.run(
        [sys.executable, "-m", "clarion", *args],
        capture_output=True,
        text=True,
        env=cli_environment(database_url),
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM ``process`` if it still runs, and SIGKILL it after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
