"""``clarion apply FILE`` through ``python -m clarion``: idempotent, renames keep ids, the
structure API shows exactly what the file declares, and bad files are refused saying where."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from sqlalchemy import select

from clarion.cli.main import cli
from clarion.components.models import Component
from clarion.context import AppContext
from tests.contract.checks import Raw
from tests.contract.cli import run_cli
from tests.harness import LiveServer


def declaration(tag: str, *, v2: bool = False) -> dict[str, Any]:
    """The issue's example (plus a sub-page, hidden items and keyed groups); ``v2`` renames
    things, flips display flags and removes the Website component from the page."""
    k = {name: f"{name}-{tag}" for name in ("api", "web", "eu", "us", "uk")}
    items: list[dict[str, Any]] = [{"component": k["api"]}]
    if not v2:
        items.append({"component": {"key": k["web"], "display_uptime": False}})
    items += [
        {
            "group": {
                "key": "regions",
                "name": "Areas" if v2 else "Regions",
                "description": "Where we run",
                "display_aggregated_uptime": not v2,
                "components": [k["eu"], {"key": k["us"], "hidden": v2}],
            }
        },
        {"group": {"name": "Renamed" if v2 else "Plain", "components": []}},
        {
            "sub_page": {
                "key": "uk",
                "name": "Britain" if v2 else "United Kingdom",
                "items": [{"component": {"key": k["uk"], "display_uptime": v2}}],
            }
        },
    ]
    return {
        "components": [
            {"key": k["api"], "name": "Public API" if v2 else "API", "description": "REST"},
            {"key": k["web"], "name": "Website"},
            {"key": k["eu"], "name": "Europe"},
            {"key": k["us"], "name": "United States"},
            {"key": k["uk"], "name": "London"},
        ],
        "status_pages": [
            {
                "slug": f"acme-{tag}",
                "name": "Acme Cloud v2" if v2 else "Acme Cloud",
                "description": "Live status of Acme's services",
                "display_uptime_mode": "nothing" if v2 else "chart_and_percentage",
                "items": items,
            }
        ],
    }


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def find_page(raw: Raw, slug: str) -> dict[str, Any]:
    params: dict[str, Any] = {"page_size": 250}
    while True:
        body = raw.get("/v2/status_pages", params=params).json()
        for page in body["status_pages"]:
            if page["public_url"].endswith("/" + slug):
                return dict(page)
        assert "after" in body["pagination_meta"], slug
        params["after"] = body["pagination_meta"]["after"]


def test_apply_is_idempotent_and_renames_keep_ids(
    server: LiveServer, raw: Raw, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    url = server.settings.database_url
    first = write(tmp_path / "v1.yaml", declaration(tag))

    out = run_cli(url, "apply", str(first)).stdout
    assert out.count("created component") == 5
    assert f"created status page acme-{tag}" in out
    assert run_cli(url, "apply", str(first)).stdout == "no changes\n"

    page = find_page(raw, f"acme-{tag}")
    before = raw.get(f"/v2/status_page_structures/{page['id']}").json()
    assert before["display_uptime_mode"] == "chart_and_percentage"
    assert before["management_meta"]["managed_by"] == "external"
    api, web, regions, plain, uk = before["current_structure"]["items"]
    assert web["component"] == {**web["component"], "name": "Website", "display_uptime": False}
    assert regions["group"]["display_aggregated_uptime"] is True
    assert [c["hidden"] for c in regions["group"]["components"]] == [False, False]
    assert uk["sub_page"]["name"] == "United Kingdom"
    assert uk["sub_page"]["items"][0]["component"]["display_uptime"] is False

    components = {
        c["id"]: c for c in raw.get("/v2/status_page_components").json()["status_page_components"]
    }
    assert components[api["component"]["component_id"]]["management_meta"]["managed_by"] == (
        "external"
    )

    second = write(tmp_path / "v2.yaml", declaration(tag, v2=True))
    out = run_cli(url, "apply", str(second)).stdout
    assert f"updated component api-{tag}: name" in out
    assert f"updated status page acme-{tag}" in out
    assert f"updated structure of status page acme-{tag}" in out

    renamed_page = find_page(raw, f"acme-{tag}")
    assert renamed_page["id"] == page["id"] and renamed_page["name"] == "Acme Cloud v2"
    after = raw.get(f"/v2/status_page_structures/{page['id']}").json()
    assert after["display_uptime_mode"] == "nothing"
    api2, regions2, plain2, uk2 = after["current_structure"]["items"]
    assert api2["component"]["component_id"] == api["component"]["component_id"]
    assert api2["component"]["name"] == "Public API"
    # Keyed group and sub-page: renamed in place.
    assert regions2["group"]["id"] == regions["group"]["id"]
    assert regions2["group"]["name"] == "Areas"
    assert regions2["group"]["display_aggregated_uptime"] is False
    assert [c["hidden"] for c in regions2["group"]["components"]] == [False, True]
    assert uk2["sub_page"]["id"] == uk["sub_page"]["id"]
    assert uk2["sub_page"]["name"] == "Britain"
    assert uk2["sub_page"]["items"][0]["component"]["display_uptime"] is True
    # A group without a key is known by its name: renaming it makes a new group.
    assert plain2["group"]["name"] == "Renamed" and plain2["group"]["id"] != plain["group"]["id"]
    # Removed from the page, but the component itself is kept.
    listed = {
        item["component"]["component_id"]
        for item in after["current_structure"]["items"]
        if "component" in item
    }
    assert web["component"]["component_id"] not in listed
    assert run_cli(url, "apply", str(second)).stdout == "no changes\n"


def test_bad_yaml_names_the_file_and_line_and_prints_no_traceback(
    server: LiveServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("components:\n  - {key: api, name: [unclosed\n", encoding="utf-8")
    result = run_cli(server.settings.database_url, "apply", str(bad), check=False)
    assert result.returncode == 1
    assert f"{bad}:3:1: not valid YAML: expected ',' or ']'" in result.stderr
    assert "flow sequence at line 2, column 22" in result.stderr
    assert "<unicode string>" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_declarations_name_the_entry_at_fault(server: LiveServer, tmp_path: Path) -> None:
    page = {"slug": "s", "items": []}
    cases: list[tuple[Any, str]] = [
        (
            {"status_pages": [{"slug": "x", "items": [{"component": "ghost"}]}]},
            "status_pages[0].items[0].component: names component 'ghost', which this file"
            " does not declare under components",
        ),
        (
            {"status_pages": [{"slug": "Not A Slug"}]},
            "status_pages[0].slug: 'Not A Slug' is not a slug",
        ),
        (
            {"status_pages": [{"slug": "v2"}]},
            "status_pages[0].slug: 'v2' is reserved: Clarion serves its own routes at "
            "/admin, /api,",
        ),
        ({"status_pages": [{"slug": "openapi-docs"}]}, "'openapi-docs' is reserved"),
        (
            {"components": [{"key": "a"}, {"key": "a"}]},
            "components[1].key: 'a' is declared twice (first at components[0].key)",
        ),
        ({"components": [{"name": "no key"}]}, "components[0].key: is required"),
        (
            {"colours": []},
            "colours: unknown key 'colours'; the keys here are components, status_pages",
        ),
        (["a", "list"], "the file must be a mapping of keys to values, not a list"),
        (
            {
                "components": [{"key": "a"}],
                "status_pages": [
                    {"slug": "s", "items": [{"component": {"key": "a", "hidden": "yes"}}]}
                ],
            },
            "status_pages[0].items[0].component.hidden: must be true or false, not 'yes'",
        ),
        (
            {
                "status_pages": [
                    {
                        "slug": "s",
                        "items": [
                            {
                                "sub_page": {
                                    "name": "a",
                                    "items": [{"sub_page": {"name": "b", "items": []}}],
                                }
                            }
                        ],
                    }
                ]
            },
            "status_pages[0].items[0].sub_page.items[0].sub_page: sub-pages cannot be nested",
        ),
        (
            {"status_pages": [{"slug": "s", "display_uptime_mode": "always"}]},
            "display_uptime_mode: must be one of 'chart_and_percentage', 'chart_only' or"
            " 'nothing', not 'always'",
        ),
        (
            {"status_pages": [{"slug": "s", "time_zone": "Mars/Olympus_Mons"}]},
            "time_zone: 'Mars/Olympus_Mons' is not a time zone name",
        ),
        (
            {
                "status_pages": [
                    {"slug": "s1", "custom_domain": "status.example.com"},
                    {"slug": "s2", "custom_domain": "STATUS.example.com"},
                ]
            },
            "status_pages[1].custom_domain: 'status.example.com' is declared twice",
        ),
        (
            {"components": [{"key": "a", "name": 123}]},
            "components[0].name: must be a string, not the number 123: quote it",
        ),
        (
            {"components": [{"key": "a", "name": True}]},
            "components[0].name: must be a string, not the boolean true",
        ),
        (
            {"status_pages": [{"slug": "s", "custom_domain": "not a domain"}]},
            "custom_domain: 'not a domain' is not a host name such as status.example.com",
        ),
        (
            {"status_pages": [{"slug": "s", "custom_domain": "https://status.example.com"}]},
            "is not a host name",
        ),
        (
            {"status_pages": [{"slug": "s", "custom_domain": "status.example.com:8080"}]},
            "is not a host name",
        ),
        (
            {"status_pages": [{"slug": "s", "items": None}]},
            "status_pages[0].items: is empty: write items: [] to remove everything",
        ),
        (
            {"status_pages": [{**page, "items": [{"group": {"name": "g", "descripton": "x"}}]}]},
            "status_pages[0].items[0].group.descripton: unknown key 'descripton'; did you mean"
            " 'description'?",
        ),
        (
            {"status_pages": [{**page, "items": [{"group": {"name": "g"}}]}]},
            "status_pages[0].items[0].group.components: is required",
        ),
        (
            {"status_pages": [{**page, "items": [{}]}]},
            "status_pages[0].items[0]: must have exactly one of the keys component, group,"
            " sub_page",
        ),
        (
            {"status_pages": [{**page, "items": [{"component": 5}]}]},
            "status_pages[0].items[0].component: must be a component key or a mapping",
        ),
    ]
    runner = CliRunner()
    env = {"CLARION_DATABASE_URL": server.settings.database_url}
    for index, (data, message) in enumerate(cases):
        path = write(tmp_path / f"case{index}.yaml", data)
        outcome = runner.invoke(cli, ["apply", str(path)], env=env)
        assert outcome.exit_code == 1, (data, outcome.output)
        assert message in outcome.output, (message, outcome.output)
        assert "nothing was changed" in outcome.output
        assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
    missing = runner.invoke(cli, ["apply", str(tmp_path / "nope.yaml")], env=env)
    assert missing.exit_code == 2


def test_a_custom_domain_taken_by_another_page_fails_cleanly_and_changes_nothing(
    server: LiveServer, raw: Raw, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    domain = f"status-{tag}.example.com"
    runner = CliRunner()
    env = {"CLARION_DATABASE_URL": server.settings.database_url}
    first = write(
        tmp_path / "first.yaml", {"status_pages": [{"slug": f"a-{tag}", "custom_domain": domain}]}
    )
    assert runner.invoke(cli, ["apply", str(first)], env=env).exit_code == 0
    second = write(
        tmp_path / "second.yaml",
        {
            "components": [{"key": f"new-{tag}", "name": "New"}],
            "status_pages": [{"slug": f"b-{tag}", "custom_domain": domain}],
        },
    )
    # A dry run runs the real apply, so it finds the conflict too.
    for dry_run in (["--dry-run"], []):
        outcome = runner.invoke(cli, ["apply", *dry_run, str(second)], env=env)
        assert outcome.exit_code == 1, outcome.output
        assert "conflicts with what is stored" in outcome.output
        assert outcome.exception is None or isinstance(outcome.exception, SystemExit)

    # The whole apply is one transaction: the new component was not kept either.
    async def component_keys(ctx: AppContext) -> list[str | None]:
        async with ctx.db.read() as session:
            rows = await session.scalars(select(Component.key).where(Component.key == f"new-{tag}"))
            return list(rows)

    assert server.call(component_keys) == []
