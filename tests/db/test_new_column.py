"""A column with a default added to a model needs no change anywhere else: every write goes
through the one persistence layer, which applies the model's defaults (see
``tests/db/new_column_app.py``, run in a process of its own so the change stays there)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.harness import fresh_database

ROOT = Path(__file__).resolve().parents[2]


def test_a_new_incident_column_with_a_default_is_stored_by_creates_and_lists_still_answer(
    tmp_path: Path,
) -> None:
    with fresh_database(str(tmp_path)) as url:
        done = subprocess.run(
            [sys.executable, "-m", "tests.db.new_column_app", url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "listed": 200,
        "names": ["With a new column"],
        "stored": [["With a new column", "minor"]],
    }
