"""Showing a service's refusal on a Django form, as the API shows it in its error body."""

from __future__ import annotations

from django import forms

from apps.core.errors import DomainError


def form_error_add(form: forms.Form, exc: DomainError) -> None:
    """Put each problem of `exc` beside the form field it names, or above the form when the
    form has no such field. A dotted path goes to the field named by its longest prefix:
    `config.api_token` to a field named `config.api_token` where the form has one (a form
    generated per configuration field), else to `config`. The messages are the service's
    own, as the API answers them."""
    problems = exc.problems() or {"": exc.message}
    for path, message in problems.items():
        form.add_error(_field_for(form, path), message)


def _field_for(form: forms.Form, path: str) -> str | None:
    parts = path.split(".") if path else []
    while parts:
        name = ".".join(parts)
        if name in form.fields:
            return name
        parts.pop()
    return None
