"""A service's refusal lands beside the form field its path names."""

from __future__ import annotations

from django import forms

from apps.core.errors import Invalid
from apps.core.forms import form_error_add


class GeneratedForm(forms.Form):
    name = forms.CharField(required=False)
    config = forms.CharField(required=False)


def errors_after(form: forms.Form, exc: Invalid) -> dict[str, list[str]]:
    form.is_valid()
    form_error_add(form, exc)
    return {name: list(errors) for name, errors in form.errors.items()}


def test_a_path_goes_to_the_field_named_by_its_longest_prefix():
    form = GeneratedForm(data={})
    form.fields["config.api_token"] = forms.CharField(required=False)
    exc = Invalid(
        "2 problems",
        field="config.api_token",
        fields={"config.api_token": "must not be empty", "config.base_url.host": "private"},
    )
    assert errors_after(form, exc) == {
        "config.api_token": ["must not be empty"],
        "config": ["private"],
    }


def test_a_path_no_field_names_goes_above_the_form():
    form = GeneratedForm(data={})
    assert errors_after(form, Invalid("taken", field="name")) == {"name": ["taken"]}
    form = GeneratedForm(data={})
    assert errors_after(form, Invalid("no such kind", field="kind")) == {
        "__all__": ["no such kind"]
    }
    form = GeneratedForm(data={})
    assert errors_after(form, Invalid("refused")) == {"__all__": ["refused"]}
