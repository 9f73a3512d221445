"""A console form shows the API's own 422 messages next to the fields they name, tied to the
field for assistive technology, and keeps what was typed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from clarion.console.forms import FORM_LEVEL, Form
from clarion.console.web import environment
from clarion.errors import Conflict, ValidationFailed
from clarion.http.validation import details_from_pydantic
from clarion.incidents.schemas import StatusPagesCreateStatusPageIncidentPayloadV2

TEMPLATE = (
    '{% from "forms.html" import form_errors, input_field with context %}'
    "{{ form_errors(form) }}{{ input_field(form, 'name', 'Name') }}"
    "{{ input_field(form, 'message', 'Message') }}"
)


def _api_error(body: dict[str, object]) -> ValidationFailed:
    with pytest.raises(ValidationError) as caught:
        StatusPagesCreateStatusPageIncidentPayloadV2.model_validate(body)
    error = details_from_pydantic(caught.value.errors())
    assert isinstance(error, ValidationFailed)
    return error


def test_the_api_s_messages_are_shown_next_to_their_fields() -> None:
    form = Form({"name": ["x" * 201], "message": [" "], "status_page_id": ["01ABC"]})
    error = _api_error(
        {
            "status_page_id": "01ABC",
            "name": "x" * 201,
            "message": " ",
            "incident_status": "investigating",
            "notify_subscribers": False,
            "idempotency_key": "k",
        }
    )
    form.fail(error)
    assert form.error_list("name") == ["name must be at most 200 characters long"]
    assert form.error_list("message") == ["message is required"]
    html = environment().from_string(TEMPLATE).render(form=form, csrf_token="t")
    name_field = html[html.index('<div class="field field--invalid">') :]
    assert 'id="field-name-error"' in name_field
    assert "name must be at most 200 characters long" in name_field
    assert 'aria-describedby="field-name-error"' in name_field
    assert 'aria-invalid="true"' in name_field
    assert f'value="{"x" * 201}"' in name_field  # what was typed stays


def test_fields_can_be_mapped_and_unknown_ones_go_above_the_form() -> None:
    error = ValidationFailed.at(
        "not_found",
        "component_statuses[0].component_id is unknown",
        "component_statuses[0].component_id",
    )
    form = Form({"name": ["Outage"]}).fail(
        error, {"component_statuses[0].component_id": "impact-c1"}
    )
    assert form.error_list("impact-c1") == ["component_statuses[0].component_id is unknown"]
    other = Form({"name": ["Outage"]}).fail(Conflict("Someone changed it first"))
    assert other.error_list(FORM_LEVEL) == ["Someone changed it first"]
    html = environment().from_string(TEMPLATE).render(form=other, csrf_token="t")
    assert '<div class="form-errors" role="alert">' in html
    assert "Someone changed it first" in html
    assert "aria-invalid" not in html
