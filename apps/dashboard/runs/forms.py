"""The run log's filters, as a GET form: the URL keeps them, so a filtered log can be shared."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.runs.models import SyncEvent


class EventFilterForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("", "Any action"), *SyncEvent.Action.choices], required=False
    )
    side = forms.ChoiceField(required=False, label="Side")
    record = forms.CharField(
        max_length=255,
        required=False,
        label="Record id",
        help_text="Its id on either side.",
    )
    field = forms.CharField(
        max_length=200,
        required=False,
        label="Field",
        help_text="Its name on either side.",
    )
    # Keyset paging: the id the page continues after (or before, paging back).
    after = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)
    before = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)

    FILTERS = ("action", "side", "record", "field")

    def __init__(self, *args: Any, side_names: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["side"].choices = [
            ("", "Either side"),
            ("a", f"A: {side_names['a']}"),
            ("b", f"B: {side_names['b']}"),
        ]
        for name in ("action", "side"):  # a choice filters at once (the button does too)
            self.fields[name].widget.attrs["onchange"] = "this.form.requestSubmit()"
        self.fields["record"].widget.attrs["placeholder"] = "any record"
        self.fields["field"].widget.attrs.update(placeholder="any field", list="field-names")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("after") is not None and data.get("before") is not None:
            raise forms.ValidationError("A page starts after one event or before one, not both.")
        for name in ("record", "field"):
            data[name] = (data.get(name) or "").strip()
        return data

    def filters(self) -> dict[str, str]:
        """The filters chosen (empty when none or the form is not valid)."""
        if not self.is_valid():
            return {}
        return {name: self.cleaned_data[name] for name in self.FILTERS if self.cleaned_data[name]}
