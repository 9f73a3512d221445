"""Records every call into incident.io's SDK status-page functions during the test run.

When the whole suite runs (no selection), a function that no test called fails the run: issue 3
asks that every status-page function of the SDK is exercised against a live Clarion.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

import pytest

SDK_PACKAGES = ("status_pages_v2", "status_page_components_v2", "status_pages_v1")
SDK_EXTRA_MODULES = ("incident_io.api.utilities_v1.utilities_v1_identity",)
ENTRY_POINTS = ("sync", "sync_detailed", "asyncio", "asyncio_detailed")

called: set[str] = set()
expected: set[str] = set()


def _wrap(module_name: str, fn: Any) -> Any:
    if getattr(fn, "_clarion_tracked", False):
        return fn
    if hasattr(fn, "__code__") and fn.__code__.co_flags & 0x80:  # coroutine function

        @functools.wraps(fn)
        async def async_tracked(*args: Any, **kwargs: Any) -> Any:
            called.add(module_name)
            return await fn(*args, **kwargs)

        async_tracked._clarion_tracked = True  # type: ignore[attr-defined]
        return async_tracked

    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        called.add(module_name)
        return fn(*args, **kwargs)

    tracked._clarion_tracked = True  # type: ignore[attr-defined]
    return tracked


def install() -> None:
    names = list(SDK_EXTRA_MODULES)
    for package in SDK_PACKAGES:
        pkg = importlib.import_module(f"incident_io.api.{package}")
        names += [f"incident_io.api.{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]
    for name in names:
        module = importlib.import_module(name)
        expected.add(name.rsplit(".", 1)[1])
        for entry in ENTRY_POINTS:
            if hasattr(module, entry):
                setattr(module, entry, _wrap(name.rsplit(".", 1)[1], getattr(module, entry)))


def pytest_configure(config: pytest.Config) -> None:
    install()


def _whole_suite(session: pytest.Session) -> bool:
    config = session.config
    selected_paths = [a for a in config.args if a not in ("tests", "tests/", ".")]
    return not selected_paths and not config.option.keyword and not config.option.markexpr


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _whole_suite(session) or session.testsfailed or exitstatus != 0:
        return
    missing = sorted(expected - called)
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "SDK functions never called by the suite: " + ", ".join(missing)
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
