"""Serializers for syncs (with their mappings and filters as one document), previews,
conflicts and sync documents. They check the shape of input; the services check meaning
(against field discovery) and save."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.connections.models import Connection
from apps.syncs.engine.filters import Operator
from apps.syncs.engine.types import (
    CommentDirection,
    ConflictPolicy,
    DeletePolicy,
    Direction,
    InitialPolicy,
)
from apps.syncs.engine.values import Kind, Normalise
from apps.syncs.models import (
    MIN_INTERVAL_SECONDS,
    Conflict,
    FieldMapping,
    Filter,
    PersonMapping,
    Sync,
    SyncPreview,
)
from apps.syncs.previews import MAX_SAMPLE_SIZE
from apps.syncs.transfer import DOCUMENT_KIND, DOCUMENT_VERSION

MAX_INTERVAL_SECONDS = 7 * 24 * 3600
MAX_SAFETY_COUNT = 2**31 - 1
MAX_MAPPINGS = 500
MAX_FILTERS = 100


def _values(enum_cls: type) -> list[str]:
    return [member.value for member in enum_cls]


# Named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"], for stable schema component names.
KIND_CHOICES = _values(Kind)
RESOLUTION_CHOICES = [Conflict.Resolution.A, Conflict.Resolution.B, Conflict.Resolution.CUSTOM]


# --- output ---------------------------------------------------------------------------------
CREATE_REFERENCED_HELP = (
    "For a `records` reference: when the record it names is not linked yet, ask the sync "
    "`reference_via` at once to create (and link) it, by that sync's own mappings and "
    "filters, rather than only wait for its next run. The field waits either way and is "
    "written once the link exists."
)


class FieldMappingSerializer(serializers.ModelSerializer):
    # Explicit: the model allows a blank kind, which a generated enum would not.
    kind_a = serializers.ChoiceField(choices=KIND_CHOICES, allow_blank=True, read_only=True)
    kind_b = serializers.ChoiceField(choices=KIND_CHOICES, allow_blank=True, read_only=True)
    direction = serializers.ChoiceField(choices=_values(Direction), read_only=True)

    class Meta:
        model = FieldMapping
        fields = [
            "id",
            "field_a",
            "field_b",
            "direction",
            "kind_a",
            "kind_b",
            "options_a",
            "options_b",
            "value_map_a_to_b",
            "value_map_b_to_a",
            "default_a",
            "default_b",
            "reference",
            "reference_via",
            "users_a",
            "users_b",
            "create_referenced",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "reference": {
                "help_text": "How the values are translated rather than copied: `records` "
                "through the links of the sync `reference_via`, `people` through the "
                "people table and email; empty for a plain mapping. Set from field "
                "discovery when the mapping is saved."
            },
            "users_a": {
                "help_text": "For people: side A's user object type when A's field holds a "
                "user record's id (empty: it holds an email or login)."
            },
            "users_b": {"help_text": "As `users_a`, for side B."},
            "create_referenced": {"help_text": CREATE_REFERENCED_HELP},
        }

    reference_via = serializers.SlugRelatedField(
        slug_field="public_id",
        read_only=True,
        allow_null=True,
        help_text="The sync whose links translate a `records` reference.",
    )


class SyncFilterSerializer(serializers.ModelSerializer):
    # Declared like the input's, so the schema has one enum for each.
    side = serializers.ChoiceField(choices=["a", "b"], read_only=True)
    operator = serializers.ChoiceField(choices=_values(Operator), read_only=True)

    class Meta:
        model = Filter
        fields = ["side", "field", "operator", "value"]
        read_only_fields = fields


class MatchRulePairSerializer(serializers.Serializer):
    a = serializers.CharField(max_length=200, help_text="A field on side A.")
    b = serializers.CharField(max_length=200, help_text="The field on side B it must equal.")
    normalise = serializers.ChoiceField(
        choices=_values(Normalise),
        default=Normalise.EMAIL.value,
        help_text="`email`: trimmed, case-insensitive; `trim`: trimmed; `exact`.",
    )


class SyncSerializer(serializers.ModelSerializer):
    """A sync as the API shows it: its definition and its state."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    connection_a = serializers.UUIDField(source="connection_a.public_id", read_only=True)
    connection_b = serializers.UUIDField(source="connection_b.public_id", read_only=True)
    match_rule = MatchRulePairSerializer(many=True, read_only=True)
    mappings = FieldMappingSerializer(many=True, read_only=True)
    filters = SyncFilterSerializer(many=True, read_only=True)
    conflict_policy = serializers.ChoiceField(choices=_values(ConflictPolicy), read_only=True)
    initial_policy = serializers.ChoiceField(choices=_values(InitialPolicy), read_only=True)
    delete_policy = serializers.ChoiceField(choices=_values(DeletePolicy), read_only=True)
    comments = serializers.ChoiceField(choices=_values(CommentDirection), read_only=True)
    paused = serializers.BooleanField(read_only=True)
    awaiting_approval = serializers.BooleanField(
        read_only=True, help_text="A run held by the safety limit waits for a decision."
    )
    held_change = serializers.JSONField(
        read_only=True, help_text="What the held run would change (`changes`, `reason`)."
    )

    class Meta:
        model = Sync
        fields = [
            "id",
            "name",
            "connection_a",
            "object_type_a",
            "connection_b",
            "object_type_b",
            "enabled",
            "interval_seconds",
            "conflict_policy",
            "initial_policy",
            "delete_policy",
            "comments",
            "comments_internal",
            "safety_limit_share",
            "safety_limit_count",
            "match_rule",
            "mappings",
            "filters",
            "paused",
            "paused_reason",
            "paused_at",
            "awaiting_approval",
            "held_change",
            "resync_requested",
            "last_run_at",
            "last_success_at",
            "last_error",
            "consecutive_failures",
            "next_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- input ----------------------------------------------------------------------------------
def _some_mappings(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Here rather than allow_empty=False, whose error would be filed under
    # "mappings.non_field_errors" instead of "mappings".
    if not value:
        raise serializers.ValidationError("a sync needs at least one field mapping")
    return value


@extend_schema_field(OpenApiTypes.UUID)
class WorkspaceConnectionField(serializers.Field):
    """A connection of the request's workspace, given by its id. Another workspace's
    connection is indistinguishable from one that does not exist."""

    default_error_messages = {
        "invalid": "Must be a valid UUID.",
        "missing": "No connection with this id in your workspace.",
    }

    def to_internal_value(self, data: Any) -> Connection:
        try:
            public_id = uuid.UUID(str(data))
        except (TypeError, ValueError, AttributeError):
            self.fail("invalid")
        workspace = self.context["workspace"]
        connection = Connection.objects.for_workspace(workspace).filter(public_id=public_id)
        found = connection.first()
        if found is None:
            self.fail("missing")
        return found

    def to_representation(self, value: Connection) -> str:
        return str(value.public_id)


class FieldMappingInputSerializer(serializers.Serializer):
    field_a = serializers.CharField(max_length=200, help_text="A field on side A.")
    field_b = serializers.CharField(max_length=200, help_text="A field on side B.")
    direction = serializers.ChoiceField(
        choices=_values(Direction),
        default=Direction.BOTH.value,
        help_text="Which way values flow: `both`, `a_to_b` or `b_to_a`.",
    )
    kind_a = serializers.ChoiceField(
        choices=KIND_CHOICES,
        required=False,
        allow_blank=True,
        help_text="Treat side A's value as this type (default: from field discovery).",
    )
    kind_b = serializers.ChoiceField(
        choices=KIND_CHOICES, required=False, allow_blank=True, help_text="As `kind_a`."
    )
    value_map_a_to_b = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Values of A (keys) written to B as these values (an enum option, or a "
        "list of them for a multi-select).",
    )
    value_map_b_to_a = serializers.DictField(
        child=serializers.JSONField(), required=False, help_text="As `value_map_a_to_b`."
    )
    default_a = serializers.JSONField(
        required=False, allow_null=True, help_text="Written to A instead of an empty value."
    )
    default_b = serializers.JSONField(
        required=False, allow_null=True, help_text="Written to B instead of an empty value."
    )
    create_referenced = serializers.BooleanField(
        required=False, default=False, help_text=CREATE_REFERENCED_HELP
    )


class SyncFilterInputSerializer(serializers.Serializer):
    side = serializers.ChoiceField(choices=["a", "b"])
    field = serializers.CharField(max_length=200)
    operator = serializers.ChoiceField(choices=_values(Operator))
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="A list for `in`/`not_in`; nothing for `empty`/`not_empty`.",
    )


class SyncWriteSerializer(serializers.Serializer):
    """A sync's definition, written as one document. Under PUT every setting left out goes
    back to its default; under PATCH what is left out is kept. The sides (connections and
    object types) are fixed once the sync exists."""

    name = serializers.CharField(max_length=120)
    connection_a = WorkspaceConnectionField(help_text="The id of side A's connection.")
    object_type_a = serializers.CharField(max_length=100)
    connection_b = WorkspaceConnectionField(help_text="The id of side B's connection.")
    object_type_b = serializers.CharField(max_length=100)
    enabled = serializers.BooleanField(
        default=False, help_text="On the schedule (and woken by webhooks)."
    )
    interval_seconds = serializers.IntegerField(
        min_value=MIN_INTERVAL_SECONDS, max_value=MAX_INTERVAL_SECONDS, default=300
    )
    conflict_policy = serializers.ChoiceField(
        choices=_values(ConflictPolicy), default=ConflictPolicy.MANUAL.value
    )
    initial_policy = serializers.ChoiceField(
        choices=_values(InitialPolicy), default=InitialPolicy.CONFLICT.value
    )
    delete_policy = serializers.ChoiceField(
        choices=_values(DeletePolicy), default=DeletePolicy.UNLINK.value
    )
    comments = serializers.ChoiceField(
        choices=_values(CommentDirection),
        default=CommentDirection.OFF.value,
        help_text="Sync the comments of linked records: off, both ways, A to B or B to A "
        "(only between object types that have comments).",
    )
    comments_internal = serializers.BooleanField(
        default=False,
        help_text="Include private/internal notes, as private notes where the other system "
        "has them (left out where it has none).",
    )
    safety_limit_share = serializers.FloatField(
        min_value=0,
        max_value=1,
        allow_null=True,
        default=0.5,
        help_text="Hold a run that would change more than this share of the linked "
        "records (a fraction in (0, 1]); null: no share limit.",
    )
    safety_limit_count = serializers.IntegerField(
        min_value=1,
        max_value=MAX_SAFETY_COUNT,
        allow_null=True,
        default=500,
        help_text="Hold a run that would change more than this many records; null: no limit.",
    )
    match_rule = MatchRulePairSerializer(
        many=True,
        default=list,
        help_text="Fields that identify the same record on both sides, for the first sync.",
    )
    mappings = FieldMappingInputSerializer(many=True, max_length=MAX_MAPPINGS)

    def validate_mappings(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _some_mappings(value)

    filters = SyncFilterInputSerializer(many=True, default=list, max_length=MAX_FILTERS)

    SIDES = ("connection_a", "object_type_a", "connection_b", "object_type_b")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sync: Sync | None = self.instance
        if sync is None:
            return attrs
        current = {
            "connection_a": sync.connection_a,
            "object_type_a": sync.object_type_a,
            "connection_b": sync.connection_b,
            "object_type_b": sync.object_type_b,
        }
        changed = {
            key: ["the sides of a sync cannot change; create a new sync (export, edit, import)"]
            for key in self.SIDES
            if key in attrs and attrs[key] != current[key]
        }
        if changed:
            raise serializers.ValidationError(changed)
        return attrs

    def settings(self) -> dict[str, Any]:
        """The validated settings, mappings, filters and match rule, minus the sides."""
        return {k: v for k, v in self.validated_data.items() if k not in self.SIDES}


class PreviewRequestSerializer(serializers.Serializer):
    sample_size = serializers.IntegerField(
        min_value=0,
        max_value=MAX_SAMPLE_SIZE,
        default=5,
        help_text="Samples to show per kind of action.",
    )
    full = serializers.BooleanField(
        default=False, help_text="Preview a full resync instead of the next incremental run."
    )


class PreviewCountsSerializer(serializers.Serializer):
    read_a = serializers.IntegerField()
    read_b = serializers.IntegerField()
    matched = serializers.IntegerField(help_text="Pairs the match rule would link.")
    created_a = serializers.IntegerField()
    created_b = serializers.IntegerField()
    updated_a = serializers.IntegerField()
    updated_b = serializers.IntegerField()
    deleted_a = serializers.IntegerField()
    deleted_b = serializers.IntegerField()
    conflicts = serializers.IntegerField()
    unlinked = serializers.IntegerField()
    skipped = serializers.IntegerField()
    errors = serializers.IntegerField()


class PreviewSerializer(serializers.Serializer):
    counts = PreviewCountsSerializer()
    change_count = serializers.IntegerField(
        help_text="Updates and deletes on both sides: what the safety limit counts."
    )
    samples = serializers.DictField(
        child=serializers.ListField(child=serializers.DictField()),
        help_text="Up to `sample_size` examples per kind of action (keys as in `counts`).",
    )


class PreviewProgressSerializer(serializers.Serializer):
    read_a = serializers.IntegerField(help_text="Records read from side A so far.")
    read_b = serializers.IntegerField(help_text="Records read from side B so far.")
    pages = serializers.IntegerField(help_text="Pages read and planned so far.")
    expected = serializers.IntegerField(
        allow_null=True,
        help_text="Records the sync's last finished preview read: a guess at the total "
        "(null without one).",
    )
    percent = serializers.IntegerField(
        allow_null=True,
        help_text="0-100 against `expected` (never 100 before it is done); null without a "
        "guess or once failed.",
    )
    elapsed_seconds = serializers.FloatField(
        allow_null=True, help_text="Since it started; its duration once it finished."
    )


class PreviewJobSerializer(serializers.ModelSerializer):
    """A preview computed as a job: its state, its progress, and once it succeeded the
    preview itself (`result`)."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    sync = serializers.UUIDField(source="sync.public_id", read_only=True)
    url = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    result = PreviewSerializer(
        read_only=True,
        allow_null=True,
        help_text="What the run would do, once `status` is `succeeded`; null before.",
    )
    error = serializers.CharField(
        read_only=True, help_text="Why it failed, for people (a system's own explanation)."
    )
    error_code = serializers.CharField(
        read_only=True,
        help_text="Why it failed, for programs: an error code of the API (e.g. "
        "`connector_authentication_failed`, `upstream_unavailable`), `preview_timed_out`, "
        "`preview_abandoned`; empty unless failed.",
    )
    requested_by = serializers.CharField(
        source="requested_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = SyncPreview
        fields = [
            "id",
            "url",
            "sync",
            "status",
            "sample_size",
            "full",
            "progress",
            "result",
            "error",
            "error_code",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, preview: SyncPreview) -> str:
        """Where to poll it: absolute when the request is known."""
        path = f"/api/v1/previews/{preview.public_id}/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(PreviewProgressSerializer)
    def get_progress(self, preview: SyncPreview) -> dict[str, Any]:
        elapsed = None
        if preview.started_at is not None:
            end = preview.finished_at or timezone.now()
            elapsed = (end - preview.started_at).total_seconds()
        return PreviewProgressSerializer(
            {
                "read_a": preview.read_a,
                "read_b": preview.read_b,
                "pages": preview.pages,
                "expected": preview.expected,
                "percent": preview.percent,
                "elapsed_seconds": elapsed,
            }
        ).data


# --- conflicts ------------------------------------------------------------------------------
class ConflictSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    sync = serializers.UUIDField(source="sync.public_id", read_only=True)
    sync_name = serializers.CharField(source="sync.name", read_only=True)
    field_a = serializers.CharField(source="mapping.field_a", read_only=True)
    field_b = serializers.CharField(source="mapping.field_b", read_only=True)
    record_id_a = serializers.CharField(source="link.a_id", read_only=True, allow_null=True)
    record_id_b = serializers.CharField(source="link.b_id", read_only=True, allow_null=True)
    base = serializers.JSONField(
        read_only=True,
        help_text='`{"a": …, "b": …}`: the values when the pair last agreed; null when '
        "the records met for the first time.",
    )
    value_a = serializers.JSONField(read_only=True)
    value_b = serializers.JSONField(read_only=True)
    custom_value = serializers.JSONField(read_only=True)
    resolution = serializers.ChoiceField(
        choices=Conflict.Resolution.values,
        allow_blank=True,
        read_only=True,
        help_text="How it was resolved; empty while open.",
    )
    resolved_by = serializers.CharField(
        source="resolved_by.username", read_only=True, allow_null=True, default=None
    )
    decided_values = serializers.JSONField(
        read_only=True,
        help_text='While decided: `{"a": …, "b": …}`, the value each side is to hold, in its '
        "own terms.",
    )
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True, default=None
    )
    error = serializers.CharField(
        read_only=True,
        help_text="Why the last decision did not take: the system's refusal, or a side that "
        "changed again after it. Empty otherwise.",
    )

    class Meta:
        model = Conflict
        fields = [
            "id",
            "sync",
            "sync_name",
            "field_a",
            "field_b",
            "record_id_a",
            "record_id_b",
            "base",
            "value_a",
            "value_b",
            "status",
            "resolution",
            "custom_value",
            "decided_by_policy",
            "reason",
            "detected_at",
            "decided_values",
            "decided_by",
            "decided_at",
            "error",
            "resolved_by",
            "resolved_at",
        ]
        read_only_fields = fields


class QueuedRunSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", help_text="Its progress: /api/v1/runs/{id}/.")
    status = serializers.CharField()


class ConflictDecidedSerializer(ConflictSerializer):
    """A conflict just decided, with the run that applies the decision."""

    run = QueuedRunSerializer(
        allow_null=True,
        read_only=True,
        help_text="The run that writes the decision (null while the sync is paused: its next "
        "run after it resumes does).",
    )

    class Meta(ConflictSerializer.Meta):
        fields = [*ConflictSerializer.Meta.fields, "run"]
        read_only_fields = fields


class ConflictResolveSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(
        choices=[r.value for r in RESOLUTION_CHOICES],
        help_text="`a`: keep A's value; `b`: keep B's; `custom`: write `value` to both.",
    )
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="With `custom`: the value, in side A's terms (converted for B).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["resolution"] == Conflict.Resolution.CUSTOM and "value" not in attrs:
            raise serializers.ValidationError({"value": ["a custom resolution needs a value"]})
        if attrs["resolution"] != Conflict.Resolution.CUSTOM and "value" in attrs:
            raise serializers.ValidationError({"value": ["only a custom resolution takes a value"]})
        return attrs


class ConflictResolveManySerializer(ConflictResolveSerializer):
    conflicts = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=200,
        help_text="Ids of the conflicts to resolve the same way (at most 200).",
    )


class ResolveOutcomeErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ResolveOutcomeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ok = serializers.BooleanField(help_text="Decided; its run applies it.")
    conflict = ConflictDecidedSerializer(
        allow_null=True, help_text="The conflict after the attempt, with the run that applies it."
    )
    error = ResolveOutcomeErrorSerializer(allow_null=True)


class ResolveManyResultSerializer(serializers.Serializer):
    resolved = serializers.IntegerField(help_text="How many were decided.")
    failed = serializers.IntegerField()
    results = ResolveOutcomeSerializer(many=True)
    runs = QueuedRunSerializer(
        many=True, help_text="The runs that apply the decisions: one per sync concerned."
    )


# --- documents ------------------------------------------------------------------------------
class SyncDocumentSerializer(serializers.Serializer):
    """A sync's definition with connections referenced by name (export and import)."""

    kind = serializers.ChoiceField(choices=[DOCUMENT_KIND])
    version = serializers.ChoiceField(choices=[DOCUMENT_VERSION])
    name = serializers.CharField(max_length=120)
    connection_a = serializers.CharField(max_length=120, help_text="A connection's name.")
    object_type_a = serializers.CharField(max_length=100)
    connection_b = serializers.CharField(max_length=120, help_text="A connection's name.")
    object_type_b = serializers.CharField(max_length=100)
    interval_seconds = serializers.IntegerField(
        min_value=MIN_INTERVAL_SECONDS, max_value=MAX_INTERVAL_SECONDS, default=300
    )
    conflict_policy = serializers.ChoiceField(
        choices=_values(ConflictPolicy), default=ConflictPolicy.MANUAL.value
    )
    initial_policy = serializers.ChoiceField(
        choices=_values(InitialPolicy), default=InitialPolicy.CONFLICT.value
    )
    delete_policy = serializers.ChoiceField(
        choices=_values(DeletePolicy), default=DeletePolicy.UNLINK.value
    )
    safety_limit_share = serializers.FloatField(
        min_value=0, max_value=1, allow_null=True, default=0.5
    )
    safety_limit_count = serializers.IntegerField(
        min_value=1, max_value=MAX_SAFETY_COUNT, allow_null=True, default=500
    )
    comments = serializers.ChoiceField(
        choices=_values(CommentDirection), default=CommentDirection.OFF.value
    )
    comments_internal = serializers.BooleanField(default=False)
    match_rule = MatchRulePairSerializer(many=True, default=list)
    mappings = FieldMappingInputSerializer(many=True, max_length=MAX_MAPPINGS)

    def validate_mappings(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _some_mappings(value)

    filters = SyncFilterInputSerializer(many=True, default=list, max_length=MAX_FILTERS)


class SyncImportSerializer(serializers.Serializer):
    document = SyncDocumentSerializer(help_text="A document from GET /syncs/{id}/export/.")
    name = serializers.CharField(
        max_length=120,
        required=False,
        help_text="Create the sync under this name instead of the document's.",
    )


# --- the people table -------------------------------------------------------------------------
class PersonMappingSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    connection_a = serializers.SlugRelatedField(slug_field="public_id", read_only=True)
    connection_b = serializers.SlugRelatedField(slug_field="public_id", read_only=True)

    class Meta:
        model = PersonMapping
        fields = ["id", "connection_a", "value_a", "connection_b", "value_b", "created_at"]
        read_only_fields = fields
        extra_kwargs = {
            "value_a": {"help_text": "The person on connection_a: an email, login or user id."},
            "value_b": {"help_text": "The same person on connection_b."},
        }


class PersonMappingInputSerializer(serializers.Serializer):
    connection_a = WorkspaceConnectionField(help_text="One connection (its id).")
    value_a = serializers.CharField(
        max_length=255, help_text="How the person appears there: an email, a login or a user id."
    )
    connection_b = WorkspaceConnectionField(help_text="The other connection (its id).")
    value_b = serializers.CharField(max_length=255, help_text="How the person appears there.")
