"""Serializers for runs (with counters per side and progress) and their events."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.engine.recorder import COUNTERS


class SideCountersSerializer(serializers.Serializer):
    read = serializers.IntegerField(help_text="Records read from this side.")
    created = serializers.IntegerField(help_text="Records created on this side.")
    updated = serializers.IntegerField(help_text="Records updated on this side.")
    unchanged = serializers.IntegerField()
    deleted = serializers.IntegerField()
    conflicts = serializers.IntegerField()
    errors = serializers.IntegerField()


class CountersSerializer(serializers.Serializer):
    a = SideCountersSerializer()
    b = SideCountersSerializer()


def counters_of(run: SyncRun) -> dict[str, dict[str, int]]:
    return {side: {name: getattr(run, f"{name}_{side}") for name in COUNTERS} for side in "ab"}


class RunSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    sync = serializers.UUIDField(source="sync.public_id", read_only=True)
    sync_name = serializers.CharField(source="sync.name", read_only=True)
    counters = serializers.SerializerMethodField()
    record_ids = serializers.JSONField(
        read_only=True,
        help_text='`{"a": [...], "b": [...]}`: the only records this run reads (a '
        "webhook's); null: every change since the last run.",
    )
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "sync",
            "sync_name",
            "trigger",
            "status",
            "full",
            "record_ids",
            "folded",
            "counters",
            "api_calls",
            "error",
            "attempts",
            "not_before",
            "cancel_requested",
            "decision",
            "decided_by",
            "decided_at",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields

    @extend_schema_field(CountersSerializer)
    def get_counters(self, run: SyncRun) -> dict[str, dict[str, int]]:
        return counters_of(run)


class ProgressSerializer(serializers.Serializer):
    events_recorded = serializers.IntegerField(
        help_text="Record actions stored so far (they are stored after each page)."
    )
    elapsed_seconds = serializers.FloatField(
        allow_null=True, help_text="Since it started; its duration once it finished."
    )
    heartbeat_at = serializers.DateTimeField(
        allow_null=True, help_text="When its worker last reported in."
    )
    phase = serializers.CharField(
        help_text="What it is doing now while it runs: recovering, checking (the safety "
        "limit), retrying, side_a, side_b or second_look; empty before it starts."
    )


class RunDetailSerializer(RunSerializer):
    """A run with its progress: what it has done so far, while it runs."""

    progress = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "progress"]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, run: SyncRun) -> dict[str, Any]:
        elapsed = None
        if run.started_at is not None:
            elapsed = ((run.finished_at or timezone.now()) - run.started_at).total_seconds()
        return ProgressSerializer(
            {
                "events_recorded": run.events.count(),
                "elapsed_seconds": elapsed,
                "heartbeat_at": run.heartbeat_at,
                "phase": run.phase,
            }
        ).data


class EventSerializer(serializers.ModelSerializer):
    run = serializers.UUIDField(source="run.public_id", read_only=True)
    side = serializers.ChoiceField(choices=["a", "b"], read_only=True)
    changes = serializers.JSONField(
        read_only=True,
        help_text='`{field: {"before": …, "after": …}}` (for a conflict: its values).',
    )

    class Meta:
        model = SyncEvent
        fields = [
            "id",
            "run",
            "action",
            "side",
            "record_id_a",
            "record_id_b",
            "changes",
            "message",
            "code",
            "created_at",
        ]
        read_only_fields = fields
