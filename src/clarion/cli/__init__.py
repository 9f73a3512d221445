"""The operator CLI, ``clarion``: one click group, a module per subcommand."""

from __future__ import annotations

from clarion.cli.main import cli, main

__all__ = ["cli", "main"]
