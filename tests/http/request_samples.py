"""A valid request for every API operation that takes a body or query parameters, and the
fields of those requests as the app's OpenAPI document describes them.

The fields are read from the document (``openapi_document()``), at any depth of a body (objects,
and the first item of arrays of objects), so a field added to a request schema is found without
editing a test. Only a new *operation* needs a new entry in ``SAMPLES``, and
``test_every_operation_with_inputs_has_a_sample`` says so when one is missing.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from clarion.app import openapi_document
from tests.contract.checks import Raw
from tests.factories import PageInfo

DOCUMENT = openapi_document()
Path = tuple[str | int, ...]
ONE_H = timedelta(hours=1)


@dataclass(frozen=True)
class Field:
    """One input of an operation: a body field (``path`` into the JSON) or a query parameter."""

    operation_id: str
    where: Literal["body", "query"]
    path: Path
    required: bool
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        """As the error envelope's ``source.field`` spells it: ``updates[0].published_at``."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
        return text

    @property
    def pointer(self) -> str:
        return "/" + "/".join(str(part) for part in self.path)

    @property
    def is_timestamp(self) -> bool:
        return any(s.get("format") == "date-time" for s in [self.schema, *_branches(self.schema)])

    def __str__(self) -> str:  # the pytest id
        return f"{self.operation_id}:{self.where}:{self.pointer}"


@dataclass
class Request:
    method: str
    url: str
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)

    def send(self, raw: Raw) -> httpx.Response:
        return raw.request(self.method, self.url, json=self.body, params=self.params)

    def with_value(self, target: Field, value: Any) -> Request:
        """A copy with ``target`` set to ``value``."""
        changed = copy.deepcopy(self)
        if target.where == "query":
            changed.params[str(target.path[0])] = value
        else:
            *parents, last = target.path
            _container(changed.body, parents, target)[last] = value
        return changed

    def item_at(self, target: Field, index: int | slice) -> Any:
        """The item (or items) at ``index`` of the list at body field ``target``."""
        return _container(self.body, [*target.path, index], target)

    def without(self, target: Field) -> Request:
        """A copy with ``target`` left out."""
        changed = copy.deepcopy(self)
        if target.where == "query":
            changed.params.pop(str(target.path[0]), None)
        else:
            *parents, last = target.path
            _container(changed.body, parents, target).pop(last, None)
        return changed


def _container(body: Any, parents: list[Any], target: Field) -> Any:
    for part in parents:
        try:
            body = body[part]
        except (KeyError, IndexError, TypeError):
            raise AssertionError(
                f"the sample of {target.operation_id} needs a value at "
                f"/{'/'.join(map(str, parents))} to reach {target.pointer}"
            ) from None
    return body


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a schema (itself when it is not a union)."""
    options = schema.get("anyOf") or schema.get("oneOf")
    if not options:
        return [_resolve(schema)]
    return [_resolve(s) for s in options if s.get("type") != "null"]


def _body_fields(operation_id: str, schema: dict[str, Any], prefix: Path) -> Iterator[Field]:
    for branch in _branches(schema):
        required = set(branch.get("required", []))
        for name, child in branch.get("properties", {}).items():
            path = (*prefix, name)
            yield Field(operation_id, "body", path, name in required, child)
            for option in _branches(child):
                if option.get("type") == "object":
                    yield from _body_fields(operation_id, option, path)
                elif option.get("type") == "array" and "items" in option:
                    yield from _body_fields(operation_id, option["items"], (*path, 0))


def operations() -> dict[str, tuple[str, dict[str, Any]]]:
    """``operationId -> (method, operation)`` for the operations that take a body or a query."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in DOCUMENT["paths"].values():
        for method, operation in item.items():
            takes_query = any(p["in"] == "query" for p in operation.get("parameters", []))
            if "requestBody" in operation or takes_query:
                found[operation["operationId"]] = (method, operation)
    return found


def fields() -> list[Field]:
    """Every body field and query parameter of every operation, in document order."""
    found: list[Field] = []
    for operation_id, (_method, operation) in operations().items():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                found.append(
                    Field(
                        operation_id,
                        "query",
                        (parameter["name"],),
                        parameter.get("required", False),
                        parameter["schema"],
                    )
                )
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            found += _body_fields(operation_id, body["schema"], ())
    return found


# ------------------------------------------------------------------------------ samples


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _first(page: PageInfo) -> str:
    return next(iter(page.components.values()))


def _created(raw: Raw, url: str, body: dict[str, Any], key: str) -> str:
    response = raw.post(url, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()[key]["id"])


def _component(raw: Raw, _page: PageInfo) -> str:
    return _created(raw, "/v2/status_page_components", {"name": "Sample"}, "status_page_component")


def _incident_body(page: PageInfo) -> dict[str, Any]:
    return {
        "status_page_id": page.id,
        "name": "Sample outage",
        "incident_status": "investigating",
        "message": "Looking into it",
        "notify_subscribers": False,
        "idempotency_key": uuid.uuid4().hex,
        "component_statuses": [{"component_id": _first(page), "component_status": "full_outage"}],
    }


def _incident(raw: Raw, page: PageInfo) -> str:
    return _created(raw, "/v2/status_page_incidents", _incident_body(page), "status_page_incident")


def _maintenance_body(page: PageInfo) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=1)
    return {
        "status_page_id": page.id,
        "name": "Sample upgrade",
        "maintenance_status": "maintenance_scheduled",
        "idempotency_key": uuid.uuid4().hex,
        "affected_component_ids": list(page.components.values())[:2],
        "start_at": _ts(start),
        "end_at": _ts(start + timedelta(hours=2)),
        "message": "Upgrading",
        "notify_subscribers": False,
        "automate_maintenance_status": True,
    }


def _maintenance(raw: Raw, page: PageInfo) -> str:
    return _created(
        raw, "/v2/status_page_maintenances", _maintenance_body(page), "status_page_maintenance"
    )


def _retrospective_body(page: PageInfo) -> dict[str, Any]:
    began = datetime.now(UTC) - timedelta(days=3)
    return {
        "status_page_id": page.id,
        "name": "Sample past outage",
        "idempotency_key": uuid.uuid4().hex,
        "updates": [
            {
                "incident_status": "identified",
                "message": "Broken",
                "published_at": _ts(began),
                "component_statuses": [
                    {"component_id": _first(page), "component_status": "full_outage"}
                ],
            },
            {"incident_status": "resolved", "message": "Fixed", "published_at": _ts(began + ONE_H)},
        ],
    }


def _status_update(
    kind: str, parent: Callable[[Raw, PageInfo], str], status: str, component_status: str
) -> Callable[[Raw, PageInfo], Request]:
    """A sample of ``POST /v2/status_page_<kind>_updates`` on a fresh ``parent``."""

    def make(raw: Raw, page: PageInfo) -> Request:
        body = {
            f"status_page_{kind}_id": parent(raw, page),
            "message": "Moving on",
            "notify_subscribers": False,
            f"{kind}_status": status,
            "component_statuses": [
                {"component_id": _first(page), "component_status": component_status}
            ],
        }
        return Request("POST", f"/v2/status_page_{kind}_updates", body)

    return make


def _reschedule(raw: Raw, page: PageInfo) -> Request:
    start = datetime.now(UTC) + timedelta(days=2)
    body = {"name": "Moved", "start_at": _ts(start), "end_at": _ts(start + ONE_H)}
    return Request("PUT", f"/v2/status_page_maintenances/{_maintenance(raw, page)}", body)


def _availability(_raw: Raw, page: PageInfo) -> Request:
    now = datetime.now(UTC)
    return Request(
        "GET",
        f"/v2/status_pages/{page.id}/components/{_first(page)}/availability",
        params={"start_at": _ts(now - timedelta(days=7)), "end_at": _ts(now)},
    )


#: operationId -> a function that makes a fresh valid request (new resources, new keys).
SAMPLES: dict[str, Callable[[Raw, PageInfo], Request]] = {
    "StatusPageComponentsV2_Create": lambda raw, page: Request(
        "POST", "/v2/status_page_components", {"name": "Sample", "description": "A sample"}
    ),
    "StatusPageComponentsV2_Update": lambda raw, page: Request(
        "PUT",
        f"/v2/status_page_components/{_component(raw, page)}",
        {"name": "Renamed", "description": "Described"},
    ),
    "StatusPagesV2_CreateStatusPageIncident": lambda raw, page: Request(
        "POST", "/v2/status_page_incidents", _incident_body(page)
    ),
    "StatusPagesV2_UpdateStatusPageIncident": lambda raw, page: Request(
        "PUT", f"/v2/status_page_incidents/{_incident(raw, page)}", {"name": "Renamed"}
    ),
    "StatusPagesV2_CreateStatusPageIncidentUpdate": _status_update(
        "incident", _incident, "monitoring", "degraded_performance"
    ),
    "StatusPagesV2_CreateStatusPageRetrospectiveIncident": lambda raw, page: Request(
        "POST", "/v2/status_page_retrospective_incidents", _retrospective_body(page)
    ),
    "StatusPagesV2_CreateStatusPageMaintenance": lambda raw, page: Request(
        "POST", "/v2/status_page_maintenances", _maintenance_body(page)
    ),
    "StatusPagesV2_UpdateStatusPageMaintenance": _reschedule,
    "StatusPagesV2_CreateStatusPageMaintenanceUpdate": _status_update(
        "maintenance", _maintenance, "maintenance_in_progress", "under_maintenance"
    ),
    "StatusPagesV2_ListStatusPages": lambda raw, page: Request("GET", "/v2/status_pages"),
    "StatusPagesV2_ListStatusPageIncidents": lambda raw, page: Request(
        "GET", "/v2/status_page_incidents", params={"status_page_id": page.id}
    ),
    "StatusPagesV2_ListStatusPageMaintenances": lambda raw, page: Request(
        "GET", "/v2/status_page_maintenances", params={"status_page_id": page.id}
    ),
    "StatusPagesV2_ShowStatusPageComponentAvailability": _availability,
}


def sample(raw: Raw, page: PageInfo, operation_id: str) -> Request:
    """A fresh valid request of ``operation_id`` (fails plainly when none is known)."""
    assert operation_id in SAMPLES, f"tests/http/request_samples.py has no {operation_id}"
    return SAMPLES[operation_id](raw, page)


def send_with(raw: Raw, page: PageInfo, target: Field, value: Any) -> httpx.Response:
    """Send a fresh sample of ``target``'s operation with ``target`` set to ``value``."""
    return sample(raw, page, target.operation_id).with_value(target, value).send(raw)
