"""The connection form, generated from a connector's configuration schema.

One form field per configuration field, named by the path the services use in their errors
(`config.api_token`), so `form_error_add` puts each refusal beside its field. Labels, help
and defaults come from the schema; secret fields (`writeOnly`) are password inputs that are
never filled in, and on an edit an empty one keeps the stored value. The form checks
nothing itself: every rule (required fields, URLs, tokens) is the service's, and its
message is the one shown.
"""

from __future__ import annotations

from typing import Any

from django import forms

from apps.connections.models import Connection
from apps.connections.selectors import ConnectorOffer

CONFIG_PREFIX = "config."


def _json_type(prop: dict[str, Any]) -> str:
    """The property's type, looking through `anyOf: [{type: X}, {type: null}]`."""
    if "type" in prop:
        return str(prop["type"])
    for option in prop.get("anyOf", ()):
        if option.get("type") not in (None, "null"):
            return str(option["type"])
    return "string"


def _secret_widget() -> forms.PasswordInput:
    # new-password: the browser must not fill in the user's saved login password here.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


def _config_field(
    prop: dict[str, Any], *, secret: bool, required: bool, stored: bool | None
) -> forms.Field:
    help_text = prop.get("description", "")
    if stored is not None and secret:
        state = "Stored; leave empty to keep it." if stored else "Not set."
        help_text = f"{state} {help_text}".strip()
    kind = _json_type(prop)
    field: forms.Field
    if "enum" in prop:
        field = forms.ChoiceField(choices=[("", "—")] + [(v, v) for v in prop["enum"]])
    elif kind == "integer":
        field = forms.IntegerField()
    elif kind == "number":
        field = forms.FloatField()
    elif kind == "boolean":
        field = forms.BooleanField()
    else:
        field = forms.CharField(widget=_secret_widget() if secret else forms.TextInput())
    field.required = False  # the service says what is missing, in its own words
    field.label = prop.get("title") or ""
    field.help_text = help_text
    field.schema_required = required  # type: ignore[attr-defined]
    if required:
        field.widget.attrs["aria-required"] = "true"
    return field


class ConnectionForm(forms.Form):
    """Name, the configuration fields of `offer`'s kind, and the webhook signing secret
    where someone must paste one (always on an edit, to replace it)."""

    name = forms.CharField(
        max_length=120,
        required=False,
        help_text="How Concord shows this connection, e.g. “HubSpot (EU)”.",
    )

    def __init__(
        self,
        data: Any = None,
        *,
        offer: ConnectorOffer,
        schema: dict[str, Any],
        connection: Connection | None = None,
        disabled: bool = False,
    ) -> None:
        initial: dict[str, Any] = {}
        if connection is not None:
            initial["name"] = connection.name
        super().__init__(data, initial=initial)
        self.offer = offer
        self.connection = connection
        self.fields["name"].schema_required = True  # type: ignore[attr-defined]
        required = set(schema.get("required", ()))
        secrets = set(offer.secret_fields)
        stored_secrets = (connection.secrets or {}) if connection else {}
        for prop_name, prop in schema.get("properties", {}).items():
            secret = prop_name in secrets
            field = _config_field(
                prop,
                secret=secret,
                required=prop_name in required and connection is None,
                stored=bool(stored_secrets.get(prop_name)) if connection is not None else None,
            )
            if connection is not None and not secret:
                field.initial = connection.config.get(prop_name)
            elif connection is None and prop.get("default") not in (None, ""):
                field.initial = prop["default"]
            self.fields[CONFIG_PREFIX + prop_name] = field
        if connection is not None or offer.webhook_secret_from_system:
            self.fields["webhook_secret"] = self._webhook_secret_field()
        for name, field in self.fields.items():
            if field.help_text:  # read out with the input, as the page shows it beside it
                field.widget.attrs["aria-describedby"] = f"id_{name}-help"
            field.disabled = disabled

    def _webhook_secret_field(self) -> forms.Field:
        if self.connection is not None:
            label = "Webhook signing secret"
            help_text = (
                "Stored; leave empty to keep it. Paste the secret the system shows to replace "
                "it, or generate a new one on the connection's page."
            )
        else:
            label = f"{self.offer.label} app client secret (for webhooks)"
            help_text = (
                f"{self.offer.label} signs its webhooks with your app's client secret: "
                "Settings, Integrations, Private Apps, your app, Auth tab, Client secret. "
                "You can add it later."
            )
        field = forms.CharField(
            required=False, label=label, help_text=help_text, widget=_secret_widget()
        )
        field.schema_required = False  # type: ignore[attr-defined]
        return field

    def config_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(CONFIG_PREFIX)]

    def values(self) -> dict[str, Any]:
        """The configuration as the services take it: typed values only (an empty field
        takes its default on a create, and keeps the stored value on an edit)."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in self.fields:
            if not name.startswith(CONFIG_PREFIX):
                continue
            value = data.get(name)
            if isinstance(value, str):
                value = value.strip()
            if value not in (None, ""):
                out[name.removeprefix(CONFIG_PREFIX)] = value
        return out

    def webhook_secret_value(self) -> str | None:
        return self.cleaned_data.get("webhook_secret") or None
