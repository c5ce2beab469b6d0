"""The conflict review screen's forms: the queue's filters, one decision, a bulk decision.

Translation only: whether a value can be written to both systems is decided by
apps.syncs.conflicts, whose refusals the views put beside the field they name.
"""

from __future__ import annotations

from typing import Any

from django import forms

from apps.dashboard.conflicts.selectors import TABS

CHOICES = [("a", "A's value"), ("b", "B's value"), ("custom", "A typed value")]


class QueueFilter(forms.Form):
    tab = forms.ChoiceField(choices=[(t, t) for t in TABS], required=False)
    sync = forms.UUIDField(required=False)
    field = forms.CharField(required=False, max_length=200)
    q = forms.CharField(required=False, max_length=200, label="Search")
    page = forms.IntegerField(required=False, min_value=1)

    def value(self, name: str, default: Any = "") -> Any:
        return (self.cleaned_data.get(name) if self.is_valid() else None) or default


class DecideForm(forms.Form):
    choice = forms.ChoiceField(choices=CHOICES)
    value = forms.CharField(required=False, max_length=10_000, strip=False, label="Value")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("choice") == "custom" and not (data.get("value") or "").strip():
            self.add_error("value", "Type the value to write to both sides.")
        return data


class BulkDecideForm(forms.Form):
    """Several conflicts decided with A's or B's value: the ones ticked (`ids`), or with
    `scope=field`, every open conflict of the field in the sync."""

    choice = forms.ChoiceField(choices=CHOICES[:2])
    scope = forms.ChoiceField(choices=[("selected", "selected"), ("field", "field")])
    ids = forms.TypedMultipleChoiceField(required=False, coerce=str)
    sync = forms.UUIDField(required=False)
    field = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any id may be posted; the view looks them up in the workspace.
        self.fields["ids"].valid_value = lambda value: True  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("scope") == "selected" and not data.get("ids"):
            self.add_error(None, "Tick the conflicts to decide first.")
        if data.get("scope") == "field" and not (data.get("sync") and data.get("field")):
            self.add_error(None, "Choose a sync and a field to decide all of its conflicts.")
        return data
