"""Console forms: reading a posted form, and its values and errors as the templates show them.

A form's errors are the API's own 422 messages (``ValidationFailed`` from the same services),
each shown next to the field it names (``Form.fail``); the templates' macros in
``templates/forms.html`` render a field with its label, its errors and its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from fastapi import Request

from clarion.errors import ClarionError, InvalidRequest

#: Where a form's errors that name no field of it are shown (above the form).
FORM_LEVEL = ""
MAX_FIELDS = 2000


@dataclass
class Form:
    """A form's values (each name may repeat, like checkboxes) and its errors by field."""

    values: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0] if found else default

    def getlist(self, name: str) -> list[str]:
        return list(self.values.get(name, []))

    def checked(self, name: str, value: str = "on") -> bool:
        return value in self.values.get(name, [])

    def error_list(self, name: str) -> list[str]:
        return self.errors.get(name, [])

    @property
    def has_errors(self) -> bool:
        return any(self.errors.values())

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def fail(self, error: ClarionError, fields: Mapping[str, str] | None = None) -> Form:
        """Record ``error``'s messages (a ``ValidationFailed`` from a service, or any other
        of Clarion's errors) next to the fields they name: ``fields`` maps the API's field
        names (``component_impacts[0].status``) to this form's; a field it does not map is
        the form's own name for it when the form has one, else the message goes above the
        form."""
        for detail in error.details:
            name = FORM_LEVEL
            if detail.field is not None:
                if fields is not None and detail.field in fields:
                    name = fields[detail.field]
                elif fields is None or detail.field in self.values:
                    name = detail.field
            self.add_error(name, detail.message)
        return self


async def read_form(request: Request) -> Form:
    """The request's ``application/x-www-form-urlencoded`` body (read once per request).
    Raises ``InvalidRequest`` for another kind of body or one with NUL characters (no
    database can store them the same way)."""
    cached: Form | None = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if body and kind not in ("", "application/x-www-form-urlencoded"):
        raise InvalidRequest("Send the form as application/x-www-form-urlencoded")
    text = body.decode("utf-8", "replace")
    try:
        values = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise InvalidRequest("The form has too many fields") from None
    if "\x00" in text or any("\x00" in v for vs in values.values() for v in vs):
        raise InvalidRequest("Form fields must not contain NUL (U+0000) characters")
    form = Form(values)
    request.state.console_form = form
    return form
