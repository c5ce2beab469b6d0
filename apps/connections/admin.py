from django.contrib import admin

from apps.connections.models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
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
