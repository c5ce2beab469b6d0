"""Showing a service's refusal on a Django form, as the API shows it in its error body."""

from __future__ import annotations

from django import forms

from apps.core.errors import DomainError


def form_error_add(form: forms.Form, exc: DomainError) -> None:
    """Put each problem of `exc` beside the form field it names (the first part of its
    dotted path: `config.api_token` goes to `config`), or above the form when the form has
    no such field. The messages are the service's own, as the API answers them."""
    problems = exc.problems() or {"": exc.message}
    for path, message in problems.items():
        name = path.split(".", 1)[0] if path else None
        form.add_error(name if name in form.fields else None, message)
