"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.serving import database_with_a_page


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database with one status page (``DECLARATION``)."""
    with database_with_a_page(tmp_path) as url:
        yield url
