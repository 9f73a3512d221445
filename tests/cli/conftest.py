"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.serving import DECLARATION
from tests.contract.cli import run_cli
from tests.harness import fresh_database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database with one status page (``DECLARATION``)."""
    with fresh_database(str(tmp_path)) as url:
        run_cli(url, "db", "upgrade")
        declaration = tmp_path / "page.yaml"
        declaration.write_text(DECLARATION)
        run_cli(url, "apply", str(declaration))
        yield url
