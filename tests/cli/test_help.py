"""Every ``clarion`` subcommand answers ``--help``."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from clarion.cli.main import cli


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, path))
    return found


def test_every_subcommand_has_help() -> None:
    commands = _all_commands(cli)
    names = {path[0] for path in commands}
    assert {"serve", "worker", "keys", "apply", "db", "demo"} <= names
    assert ("keys", "create") in commands and ("keys", "revoke") in commands
    runner = CliRunner()
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        assert len(result.output.splitlines()) > 2, path


def test_python_m_clarion_help_lists_the_subcommands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clarion", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in ("serve", "worker", "keys", "apply", "db"):
        assert f"  {name}" in result.stdout
