"""Reading an ``apply`` file: one schema, every problem with its path and position, and the
declaration that apply makes true (no database involved)."""

from __future__ import annotations

from typing import Any

import pytest

from clarion.status_pages.declaration import (
    DeclarationError,
    Problem,
    parse_declaration,
    read_declaration,
)


def problems(text: str) -> list[Problem]:
    with pytest.raises(DeclarationError) as caught:
        read_declaration(text, "pages.yaml")
    return caught.value.problems


def one_page(**page: Any) -> dict[str, Any]:
    return {"status_pages": [{"slug": "acme", **page}]}


def test_a_problem_inside_nested_items_names_its_path_line_and_column() -> None:
    text = """\
components:
  - {key: api}
status_pages:
  - slug: acme
    items:
      - component: api
      - sub_page:
          name: Europe
          items:
            - group:
                name: Regions
                components: [api, {key: api, hiden: true}]
"""
    group = "status_pages[0].items[1].sub_page.items[0].group"
    twice = "component 'api' is on this page twice (first at status_pages[0].items[0].component)"
    # In the file's order; each where it is written.
    assert [(p.line, p.column, p.path, p.message) for p in problems(text)] == [
        (12, 30, f"{group}.components[0]", twice),
        (12, 41, f"{group}.components[1].key", twice),
        (12, 46, f"{group}.components[1].hiden", "unknown key 'hiden'; did you mean 'hidden'?"),
    ]


def test_a_missing_key_points_at_the_mapping_that_lacks_it() -> None:
    text = "components:\n  - name: API\n    description: no key\n"
    (problem,) = problems(text)
    assert (problem.path, problem.message, problem.line, problem.column) == (
        "components[0].key",
        "is required",
        2,
        5,
    )
    assert problem.render("pages.yaml") == "pages.yaml:2:5: components[0].key: is required"


def test_yaml_syntax_errors_name_the_file_line_and_column() -> None:
    with pytest.raises(DeclarationError) as caught:
        read_declaration("status_pages:\n  - slug: acme\n   name: x\n", "pages.yaml")
    text = str(caught.value)
    assert text.startswith("pages.yaml: 1 problem; nothing was changed\npages.yaml:3:")
    assert "not valid YAML" in text and "<unicode string>" not in text


def test_unsafe_tags_are_refused_as_yaml_errors() -> None:
    (problem,) = problems("components: !!python/object/apply:os.system [echo]\n")
    assert "not valid YAML: could not determine a constructor" in problem.message


def test_strings_numbers_and_booleans_are_not_confused() -> None:
    found = problems(
        "components:\n"
        "  - {key: 2024, name: no}\n"
        "  - {key: b, name: 2026-01-01}\n"
        "  - {key: c, name: [x]}\n"
    )
    assert [p.message for p in found] == [
        "must be a string, not the number 2024: quote it",
        "must be a string, not the boolean false (YAML reads yes, no, on, off, true and false"
        " as booleans): quote it",
        "must be a string, not the date 2026-01-01: quote it",
        "must be a string, not a list",
    ]
    assert parse_declaration({"components": [{"key": "2024", "name": "no"}]}).components[0].name


@pytest.mark.parametrize(
    "domain, stored",
    [
        ("status.example.com", "status.example.com"),
        ("Status.Example.COM.", "status.example.com"),
        ("xn--sttus-jua.example", "xn--sttus-jua.example"),
        ("intranet-status", "intranet-status"),
    ],
)
def test_valid_custom_domains_are_stored_in_lower_case(domain: str, stored: str) -> None:
    (page,) = parse_declaration(one_page(custom_domain=domain)).pages
    assert page.custom_domain == stored


@pytest.mark.parametrize(
    "domain",
    [
        "not a domain",
        "https://status.example.com",
        "status.example.com:8080",
        "status.example.com/path",
        "-status.example.com",
        "status..example.com",
        "statüs.example.com",
        "a" * 64 + ".example.com",
        "",
    ],
)
def test_anything_but_a_host_name_is_refused_as_custom_domain(domain: str) -> None:
    with pytest.raises(DeclarationError, match=r"custom_domain: .* is not a host name"):
        parse_declaration(one_page(custom_domain=domain))


@pytest.mark.parametrize("slug", ["v1", "v2", "api", "admin", "static", "subscribe", "openapi-v3"])
def test_reserved_slugs_are_explained(slug: str) -> None:
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(one_page(slug=slug))
    assert f"status_pages[0].slug: '{slug}' is reserved: Clarion serves its own routes at" in (
        str(caught.value)
    )
    assert "/healthz" in str(caught.value) and "choose another slug" in str(caught.value)


def test_items_absent_means_keep_and_an_empty_list_means_empty() -> None:
    assert parse_declaration(one_page()).pages[0].items is None
    assert parse_declaration(one_page(items=[])).pages[0].items == []
    with pytest.raises(DeclarationError, match=r"items: is empty: write items: \[\]"):
        parse_declaration(one_page(items=None))


def test_a_structure_is_flattened_parents_first_with_positions_among_siblings() -> None:
    decl = parse_declaration(
        {
            "components": [{"key": k} for k in ("a", "b", "c", "d")],
            "status_pages": [
                {
                    "slug": "acme",
                    "items": [
                        {"component": "a"},
                        {"group": {"name": "G", "key": "g", "components": ["b", "c"]}},
                        {"sub_page": {"name": "S", "items": [{"component": "d"}]}},
                    ],
                }
            ],
        }
    )
    items = decl.pages[0].items
    assert items is not None
    assert [(i.key, i.parent_key, i.position) for i in items] == [
        ("component:a", None, 0),
        ("group:g", None, 1),
        ("component:b", "group:g", 0),
        ("component:c", "group:g", 1),
        ("sub_page:S", None, 2),
        ("component:d", "sub_page:S", 0),
    ]
    assert decl.components[0].name == "a"  # a component's name defaults to its key


def test_keys_used_as_item_keys_fit_the_stored_key() -> None:
    long_name = "n" * 195
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(
            one_page(items=[{"group": {"name": long_name, "components": []}}])
            | {"components": [{"key": "k" * 191}]}
        )
    text = str(caught.value)
    assert "components[0].key: must be at most 190 characters (this one has 191)" in text
    assert "status_pages[0].items[0].group.name: is this group's key too" in text
    ok = one_page(items=[{"group": {"name": long_name, "key": "g", "components": []}}])
    assert parse_declaration(ok).pages[0].items is not None
