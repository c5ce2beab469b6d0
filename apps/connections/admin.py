from typing import Any

from django import forms
from django.contrib import admin

from apps.connections.models import Connection
from apps.connections.urlpolicy import UrlNotAllowed, check_base_url


class ConnectionAdminForm(forms.ModelForm):
    """The admin's connection form, held to the base-URL policy that the API and the
    dashboard apply (apps.connections.urlpolicy): staff cannot point a connection at a
    private address either."""

    class Meta:
        model = Connection
        # The admin lists the fields it shows (every one but the secrets).
        fields = ("name", "kind", "workspace", "config", "consecutive_failures")

    def clean_config(self) -> dict[str, Any]:
        config = self.cleaned_data.get("config")
        if not isinstance(config, dict):
            raise forms.ValidationError("the configuration must be a JSON object")
        base_url = config.get("base_url")
        if not isinstance(base_url, str) or not base_url.strip():
            raise forms.ValidationError('the configuration needs a "base_url"')
        try:
            config["base_url"] = check_base_url(base_url)
        except UrlNotAllowed as exc:
            raise forms.ValidationError(f"base_url: {exc}") from None
        return config


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionAdminForm
    list_display = (
        "name",
        "kind",
        "workspace",
        "status",
        "last_success_at",
        "consecutive_failures",
    )
    list_filter = ("kind", "status")
    # Secrets are never shown, not even to staff.
    exclude = ("secrets", "webhook_secret")
    readonly_fields = ("public_id", "status", "last_checked_at", "last_success_at", "last_error")
