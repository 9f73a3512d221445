"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

import importlib
import pkgutil

from clarion.db.base import Base

MODEL_MODULES = (
    "clarion.api_keys.models",
    "clarion.components.models",
    "clarion.status_pages.models",
    "clarion.incidents.models",
    "clarion.maintenances.models",
    "clarion.http.idempotency_models",
)


def load_all_models() -> type[Base]:
    """Import every ``models`` module of the package (and the ones listed above)."""
    import clarion

    for name in MODEL_MODULES:
        importlib.import_module(name)
    for info in pkgutil.walk_packages(clarion.__path__, "clarion."):
        if info.name.endswith(".models") and ".migrations" not in info.name:
            importlib.import_module(info.name)
    return Base
