from django.contrib import admin

from apps.syncs.models import Conflict, FieldMapping, Filter, RecordLink, Sync


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    fk_name = "sync"
    extra = 0


class FilterInline(admin.TabularInline):
    model = Filter
    extra = 0


@admin.register(Sync)
class SyncAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "enabled", "paused_reason", "last_success_at")
    list_filter = ("enabled", "conflict_policy", "delete_policy")
    inlines = [FieldMappingInline, FilterInline]
    readonly_fields = (
        "public_id",
        "last_run_at",
        "last_success_at",
        "last_error",
        "consecutive_failures",
        "held_change",
    )


@admin.register(RecordLink)
class RecordLinkAdmin(admin.ModelAdmin):
    list_display = ("sync", "a_id", "b_id", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("a_id", "b_id")


@admin.register(Conflict)
class ConflictAdmin(admin.ModelAdmin):
    list_display = ("sync", "mapping", "status", "resolution", "detected_at")
    list_filter = ("status", "resolution")
