"""Debian's Chromium for the browser tests (through Playwright) and axe-core inside it.

axe-core comes from npm at the version pinned in ``package-lock.json`` beside this file;
``scripts/bootstrap --with-browser`` installs it into ``node_modules`` here (no download at
test time).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
SCHEMES = ("light", "dark")
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; skips the test when it is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's Chromium is not installed")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


@lru_cache(maxsize=1)
def axe_source() -> str:
    """axe-core's script at the pinned version (fails, not skips, when it is missing or
    another version: the accessibility tests are part of the gate)."""
    lock = json.loads((HERE / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    installed = HERE / "node_modules" / "axe-core" / "package.json"
    if not AXE.exists() or json.loads(installed.read_text())["version"] != pinned:
        raise AssertionError(
            f"axe-core {pinned} is not installed in {HERE.name}/node_modules: "
            "run scripts/bootstrap --with-browser"
        )
    return AXE.read_text()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every axe-core violation on ``page`` as it is now: axe's default rule set (WCAG 2.0,
    2.1 and 2.2 levels A and AA, and axe's best practices), every impact."""
    page.evaluate(axe_source())
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> list[str]:
    """One line per failing element: rule, impact, element, and axe's own explanation."""
    lines = []
    for rule in violations:
        for node in rule["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            summary = node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"{rule['id']} ({rule['impact']}) {target}: {summary}")
    return lines


def accessible_focus(page: Page) -> dict[str, str]:
    """What Chromium tells assistive technology about the focused element: its role, its
    accessible name, and its container's role (from the accessibility tree, over CDP)."""
    session = page.context.new_cdp_session(page)
    try:
        found = session.send("Runtime.evaluate", {"expression": "document.activeElement"})
        object_id = found["result"]["objectId"]
        tree = session.send(
            "Accessibility.getPartialAXTree", {"objectId": object_id, "fetchRelatives": True}
        )
    finally:
        session.detach()
    nodes = tree["nodes"]
    focused = next(n for n in nodes if _prop(n, "focused"))
    parent = next((n for n in nodes if n["nodeId"] == focused.get("parentId")), None)
    return {
        "role": focused["role"]["value"],
        "name": focused.get("name", {}).get("value", ""),
        "selected": str(_prop(focused, "selected")),
        "container": parent["role"]["value"] if parent else "",
        "container_name": parent.get("name", {}).get("value", "") if parent else "",
    }


def _prop(node: dict[str, Any], name: str) -> Any:
    for prop in node.get("properties", []):
        if prop["name"] == name:
            return prop["value"]["value"]
    return None
