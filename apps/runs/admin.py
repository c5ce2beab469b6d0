from django.contrib import admin

from apps.runs.models import SyncEvent, SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("sync", "trigger", "status", "started_at", "finished_at", "api_calls")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in SyncRun._meta.fields]


@admin.register(SyncEvent)
class SyncEventAdmin(admin.ModelAdmin):
    list_display = ("run", "action", "side", "record_id_a", "record_id_b", "created_at")
    list_filter = ("action",)
    search_fields = ("record_id_a", "record_id_b")
