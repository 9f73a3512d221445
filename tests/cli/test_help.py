"""Every ``clarion`` subcommand answers ``--help``, without importing the application."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from clarion.cli.main import COMMANDS, cli
from clarion.cli.outbox import STATUSES as OUTBOX_STATUS_CHOICES
from clarion.notifications.models import STATUSES

#: What ``--help`` must not import: the application, the database and HTTP layers, settings.
HEAVY_MODULES = (
    "alembic",
    "clarion.app",
    "clarion.context",
    "clarion.db",
    "clarion.settings",
    "fastapi",
    "granian",
    "jinja2",
    "pydantic",
    "sqlalchemy",
    "starlette",
    "uvloop",
)


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, path))
    return found


def test_every_subcommand_has_help() -> None:
    commands = _all_commands(cli)
    names = {path[0] for path in commands}
    assert {"serve", "worker", "keys", "apply", "db", "demo", "export", "outbox"} <= names
    assert names == set(COMMANDS)
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
    for name in ("serve", "worker", "keys", "apply", "db", "demo", "export"):
        assert f"  {name}" in result.stdout


#: Run in a fresh interpreter: the console script's entry point, then ``--help`` of the group
#: and of every subcommand (nested ones too), recording after each which heavy modules are
#: loaded.
PROBE = """
import json, sys
import click
from clarion.cli import main

heavy = json.loads(sys.argv[1])

def loaded():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))

def run(args):
    sys.argv = ["clarion", *args]
    try:
        main()
    except SystemExit as done:
        assert done.code in (0, None), (args, done.code)

from clarion.cli.main import cli
report = {"(import)": loaded()}
run(["--help"])
report["--help"] = loaded()

def walk(group, prefix):
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        path = [*prefix, name]
        run([*path, "--help"])
        report[" ".join(path) + " --help"] = loaded()
        if isinstance(command, click.Group):
            walk(command, path)

walk(cli, [])
print(json.dumps(report))
"""


def test_help_imports_neither_the_app_nor_sqlalchemy_fastapi_or_granian() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY_MODULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert "keys create --help" in report and "serve --help" in report
    assert {step: found for step, found in report.items() if found} == {}


def test_the_outbox_status_choices_are_the_outbox_statuses() -> None:
    assert OUTBOX_STATUS_CHOICES == STATUSES
