"""``clarion apply`` is strict and safe: the whole file is checked before anything is written,
every problem is reported at once with its path and line, a page's structure is only removed
when the file says so, and ``--dry-run`` prints exactly what apply then does."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from clarion.components.models import Component
from clarion.context import AppContext
from clarion.status_pages.models import StatusPage
from tests.cli.test_apply import declaration, find_page, write
from tests.contract.checks import Raw
from tests.contract.cli import run_cli
from tests.harness import LiveServer


def where(text: str, context: str, spot: str) -> str:
    """``LINE:COLUMN`` (from 1) where ``spot`` starts inside the first ``context`` in ``text``."""
    before = text[: text.index(context) + context.index(spot)]
    return f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


def stored(server: LiveServer, tag: str) -> tuple[list[str], list[str]]:
    """The keys of stored components and the slugs of stored pages that contain ``tag``."""

    async def body(ctx: AppContext) -> tuple[list[str], list[str]]:
        async with ctx.db.read() as session:
            keys = await session.scalars(select(Component.key).where(Component.key.contains(tag)))
            slugs = await session.scalars(
                select(StatusPage.slug).where(StatusPage.slug.contains(tag))
            )
            return sorted(k for k in keys if k), sorted(slugs)

    return server.call(body)


def structure(raw: Raw, page_id: str) -> Any:
    return raw.get(f"/v2/status_page_structures/{page_id}").json()["current_structure"]


def applied(server: LiveServer, raw: Raw, tmp_path: Path) -> tuple[str, dict[str, Any], str]:
    """The test's example applied on a fresh tag: (tag, the declaration, the page's id)."""
    tag = uuid.uuid4().hex[:8]
    data = declaration(tag)
    run_cli(server.settings.database_url, "apply", str(write(tmp_path / "v1.yaml", data)))
    return tag, data, find_page(raw, f"acme-{tag}")["id"]


def test_every_problem_is_reported_at_once_with_its_path_and_line_and_nothing_is_written(
    server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    text = f"""\
components:
  - key: api-{tag}
    name: API
    descripton: A typo of description
  - key: web-{tag}
    name: 123
  - key: api-{tag}  # again
status_pages:
  - slug: v2
    custom_domain: not a domain
    time_zone: Mars/Olympus_Mons
    display_uptime_mode: always
    items:
      - component: ghost-{tag}
      - component: {{key: web-{tag}, hidden: yes please}}
      - group:
          name: 42
          components: [api-{tag}]
  - slug: fine-{tag}
    name: Fine
    name: Given twice
    items:
"""
    path = tmp_path / "pages.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_cli(server.settings.database_url, "apply", str(path), check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    # (text around the spot, the spot, the message)
    expected = [
        (
            "descripton",
            "descripton",
            "components[0].descripton: unknown key 'descripton'; did you mean 'description'?",
        ),
        ("name: 123", "123", "components[1].name: must be a string, not the number 123: quote it"),
        (
            f"api-{tag}  # again",
            "api",
            f"components[2].key: 'api-{tag}' is declared twice (first at components[0].key)",
        ),
        (
            "slug: v2",
            "v2",
            "status_pages[0].slug: 'v2' is reserved: Clarion serves its own routes at /admin, /api",
        ),
        (
            "not a domain",
            "not",
            "status_pages[0].custom_domain: 'not a domain' is not a host name such as"
            " status.example.com",
        ),
        (
            "Mars/",
            "Mars",
            "status_pages[0].time_zone: 'Mars/Olympus_Mons' is not a time zone name such as"
            " Europe/London",
        ),
        ("always", "always", "status_pages[0].display_uptime_mode: must be one of"),
        (
            f"ghost-{tag}",
            "ghost",
            f"status_pages[0].items[0].component: names component 'ghost-{tag}', which this"
            " file does not declare under components",
        ),
        (
            "yes please",
            "yes",
            "status_pages[0].items[1].component.hidden: must be true or false, not 'yes please'",
        ),
        (
            "name: 42",
            "42",
            "status_pages[0].items[2].group.name: must be a string, not the number 42",
        ),
        (
            "name: Given",
            "name",
            "status_pages[1].name: is given twice in this mapping (first at line 20)",
        ),
        (
            "Given twice\n    items:",
            "items",  # an empty value: the key's position
            "status_pages[1].items: is empty: write items: [] to remove everything from the page",
        ),
    ]
    lines = result.stderr.splitlines()
    assert lines[0] == f"Error: {path}: {len(expected)} problems; nothing was changed"
    assert len(lines) == 1 + len(expected), result.stderr
    for line, (context, spot, message) in zip(lines[1:], expected, strict=True):
        assert line.startswith(f"{path}:{where(text, context, spot)}: {message}"), (line, message)
    assert stored(server, tag) == ([], [])


def test_a_misspelt_items_key_is_an_error_and_leaves_the_structure_intact(
    server: LiveServer, raw: Raw, tmp_path: Path
) -> None:
    _tag, data, page_id = applied(server, raw, tmp_path)
    url = server.settings.database_url
    before = structure(raw, page_id)
    assert len(before["items"]) == 5

    typo = dict(data["status_pages"][0])
    typo["itmes"] = typo.pop("items")
    path = write(tmp_path / "typo.yaml", {**data, "status_pages": [typo]})
    for dry_run in ([], ["--dry-run"]):
        result = run_cli(url, "apply", *dry_run, str(path), check=False)
        assert result.returncode == 1, result.stdout
        assert result.stdout == ""
        assert "status_pages[0].itmes: unknown key 'itmes'; did you mean 'items'?" in result.stderr
    assert structure(raw, page_id) == before


def test_a_page_entry_without_items_keeps_its_structure(
    server: LiveServer, raw: Raw, tmp_path: Path
) -> None:
    tag, data, page_id = applied(server, raw, tmp_path)
    url = server.settings.database_url
    before = structure(raw, page_id)

    settings_only = {k: v for k, v in data["status_pages"][0].items() if k != "items"}
    settings_only["name"] = "Acme, renamed"
    path = write(tmp_path / "settings.yaml", {**data, "status_pages": [settings_only]})
    out = run_cli(url, "apply", str(path)).stdout
    assert out == f"updated status page acme-{tag}: name\n"
    assert structure(raw, page_id) == before
    assert find_page(raw, f"acme-{tag}")["name"] == "Acme, renamed"
    assert run_cli(url, "apply", str(path)).stdout == "no changes\n"


def test_items_lists_the_whole_structure_and_an_empty_list_empties_the_page(
    server: LiveServer, raw: Raw, tmp_path: Path
) -> None:
    tag, data, page_id = applied(server, raw, tmp_path)
    url = server.settings.database_url

    # Only the API component stays listed: everything else leaves the page, and says so.
    fewer = {**data["status_pages"][0], "items": [{"component": f"api-{tag}"}]}
    out = run_cli(
        url, "apply", str(write(tmp_path / "fewer.yaml", {**data, "status_pages": [fewer]}))
    )
    assert out.stdout == (
        f"updated structure of status page acme-{tag}: removed component web-{tag},"
        f" group regions, component eu-{tag}, component us-{tag}, group Plain, sub-page uk,"
        f" component uk-{tag}\n"
    )
    assert [i["component"]["name"] for i in structure(raw, page_id)["items"]] == ["API"]

    empty = {**data["status_pages"][0], "items": []}
    path = write(tmp_path / "empty.yaml", {**data, "status_pages": [empty]})
    out = run_cli(url, "apply", str(path))
    assert (
        out.stdout == f"updated structure of status page acme-{tag}: removed component api-{tag}\n"
    )
    assert structure(raw, page_id)["items"] == []
    # The components themselves are kept.
    assert len(stored(server, tag)[0]) == 5


def test_dry_run_changes_nothing_and_prints_exactly_what_apply_then_prints(
    server: LiveServer, raw: Raw, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    url = server.settings.database_url
    first = write(tmp_path / "v1.yaml", declaration(tag))

    plan = run_cli(url, "apply", "--dry-run", str(first))
    assert "created component" in plan.stdout
    assert plan.stderr.endswith("dry run: nothing was changed\n")
    assert stored(server, tag) == ([], [])
    assert run_cli(url, "apply", str(first)).stdout == plan.stdout

    page_id = find_page(raw, f"acme-{tag}")["id"]
    before = structure(raw, page_id)
    second = write(tmp_path / "v2.yaml", declaration(tag, v2=True))
    plan = run_cli(url, "apply", "--dry-run", str(second))
    assert f"updated component api-{tag}: name" in plan.stdout
    assert f"updated structure of status page acme-{tag}:" in plan.stdout
    assert f"removed component web-{tag}" in plan.stdout
    assert structure(raw, page_id) == before
    assert find_page(raw, f"acme-{tag}")["name"] == "Acme Cloud"
    assert run_cli(url, "apply", str(second)).stdout == plan.stdout

    assert run_cli(url, "apply", "--dry-run", str(second)).stdout == "no changes\n"
    assert run_cli(url, "apply", str(second)).stdout == "no changes\n"


def test_a_dry_run_of_a_bad_file_reports_the_same_problems(
    server: LiveServer, tmp_path: Path
) -> None:
    path = write(tmp_path / "bad.yaml", {"components": [{"key": "a", "name": 1, "colour": "x"}]})
    url = server.settings.database_url
    apply = run_cli(url, "apply", str(path), check=False)
    dry = run_cli(url, "apply", "--dry-run", str(path), check=False)
    assert apply.returncode == dry.returncode == 1
    assert apply.stderr == dry.stderr
    assert "2 problems" in dry.stderr and dry.stdout == ""
