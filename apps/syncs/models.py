"""Syncs: what is joined to what, how fields map, and the state of every linked pair.

No behaviour lives here (see services.py and engine/); the choices are the engine's enums so
that the ORM and the pure planner can never disagree on a value.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel, WorkspaceScopedModel
from apps.syncs.engine.filters import Operator
from apps.syncs.engine.types import (
    CommentDirection,
    CommentLinkStatus,
    ConflictPolicy,
    DeletePolicy,
    Direction,
    InitialPolicy,
    LinkStatus,
)
from apps.syncs.engine.values import Kind

MIN_INTERVAL_SECONDS = 10


def _choices(enum_cls: type) -> list[tuple[str, str]]:
    return [(m.value, m.value.replace("_", " ")) for m in enum_cls]


class Sync(WorkspaceScopedModel):
    name = models.CharField(max_length=120)
    connection_a = models.ForeignKey(
        "connections.Connection", on_delete=models.PROTECT, related_name="+"
    )
    object_type_a = models.CharField(max_length=100)
    connection_b = models.ForeignKey(
        "connections.Connection", on_delete=models.PROTECT, related_name="+"
    )
    object_type_b = models.CharField(max_length=100)
    enabled = models.BooleanField(default=False)
    interval_seconds = models.PositiveIntegerField(default=300)
    # [{"a": field on A, "b": field on B, "normalise": "email"|"trim"|"exact"}, ...]
    match_rule = models.JSONField(default=list, blank=True)
    conflict_policy = models.CharField(
        max_length=10, choices=_choices(ConflictPolicy), default=ConflictPolicy.MANUAL
    )
    initial_policy = models.CharField(
        max_length=10, choices=_choices(InitialPolicy), default=InitialPolicy.CONFLICT
    )
    delete_policy = models.CharField(
        max_length=10, choices=_choices(DeletePolicy), default=DeletePolicy.UNLINK
    )
    # Comments of linked records: off, or the way they are copied; with or without the
    # private/internal notes (copied as internal where the other system has them).
    comments = models.CharField(
        max_length=10, choices=_choices(CommentDirection), default=CommentDirection.OFF
    )
    comments_internal = models.BooleanField(default=False)
    # A run that would change or delete more than this share of the linked records, or more
    # than this many records, is held before writing. Null switches that half off.
    safety_limit_share = models.FloatField(null=True, blank=True, default=0.5)
    safety_limit_count = models.PositiveIntegerField(null=True, blank=True, default=500)

    # Paused: the dispatcher skips the sync and its runs are cancelled until resumed.
    paused_reason = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # A held mass change waiting for a person to approve or cancel it: what it would do.
    held_change = models.JSONField(null=True, blank=True)
    # Set when mappings change: the next run reads everything, not just the feed.
    resync_requested = models.BooleanField(default=False)

    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # What the latest polling run read per side, and when the poll before it started:
    # {"started_at": iso, "previous_started_at": iso | null, "read": {"a": n, "b": n}}.
    last_poll = models.JSONField(null=True, blank=True)
    # Set when scheduled polling finds changes that no webhook announced on a connection
    # that receives webhooks: its webhook setup in the external system looks broken
    # (apps.webhooks compares last_poll with the deliveries).
    webhook_warning = models.TextField(blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="sync_name_unique"),
            models.CheckConstraint(
                condition=Q(interval_seconds__gte=MIN_INTERVAL_SECONDS),
                name="sync_interval_at_least_10s",
            ),
            models.CheckConstraint(
                condition=Q(safety_limit_share__isnull=True)
                | Q(safety_limit_share__gt=0, safety_limit_share__lte=1),
                name="sync_safety_share_in_range",
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def paused(self) -> bool:
        return bool(self.paused_reason)

    @property
    def awaiting_approval(self) -> bool:
        return self.held_change is not None


class FieldMapping(TimeStampedModel):
    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="mappings")
    field_a = models.CharField(max_length=200)
    field_b = models.CharField(max_length=200)
    direction = models.CharField(max_length=10, choices=_choices(Direction), default=Direction.BOTH)
    # Conversion kinds, from field discovery unless set explicitly (a text field holding
    # dates may be treated as a date). Options: the enum options discovery reported.
    kind_a = models.CharField(max_length=12, choices=_choices(Kind), blank=True)
    kind_b = models.CharField(max_length=12, choices=_choices(Kind), blank=True)
    options_a = models.JSONField(default=list, blank=True)
    options_b = models.JSONField(default=list, blank=True)
    # {"value on A": "value on B"} and the reverse; empty: no value map.
    value_map_a_to_b = models.JSONField(default=dict, blank=True)
    value_map_b_to_a = models.JSONField(default=dict, blank=True)
    # Written instead of an empty value (in the target side's terms); null: none.
    default_a = models.JSONField(null=True, blank=True)
    default_b = models.JSONField(null=True, blank=True)
    # A reference mapping translates its values instead of copying them (engine/references):
    # "records" through the links of the sync `reference_via` (which joins the object types
    # the two fields point to), "people" through the people table and emails; for people,
    # `users_a`/`users_b` name the system's user object type where the field holds a user
    # record's id (empty: the field holds an email or login).
    reference = models.CharField(
        max_length=10,
        choices=[("", "none"), ("records", "records"), ("people", "people")],
        blank=True,
    )
    reference_via = models.ForeignKey(
        "Sync", null=True, blank=True, on_delete=models.PROTECT, related_name="followed_by"
    )
    users_a = models.CharField(max_length=100, blank=True)
    users_b = models.CharField(max_length=100, blank=True)
    # For "records": when the referenced record is not linked yet, ask `reference_via` to
    # create (and link) it at once instead of only waiting for that sync's own run.
    create_referenced = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        arrow = {"both": "<->", "a_to_b": "->", "b_to_a": "<-"}[self.direction]
        return f"{self.field_a} {arrow} {self.field_b}"


class Filter(TimeStampedModel):
    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="filters")
    side = models.CharField(max_length=1, choices=[("a", "A"), ("b", "B")])
    field = models.CharField(max_length=200)
    operator = models.CharField(max_length=10, choices=_choices(Operator))
    value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.side.upper()}.{self.field} {self.operator} {self.value!r}"


ACTIVE = [
    s.value for s in (LinkStatus.LINKED, LinkStatus.PENDING_CREATE_A, LinkStatus.PENDING_CREATE_B)
]


class RecordLink(TimeStampedModel):
    """A pair of records kept in agreement, or one side of a pair being created."""

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="links")
    # NULL, not "", while a create is pending: unique constraints ignore NULLs.
    a_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    b_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(
        max_length=20, choices=_choices(LinkStatus), default=LinkStatus.LINKED
    )
    # {mapping id: {"a": value on A, "b": value on B}} when the pair last agreed.
    base = models.JSONField(default=dict, blank=True)
    a_version = models.CharField(max_length=100, blank=True)
    b_version = models.CharField(max_length=100, blank=True)
    a_modified_at = models.DateTimeField(null=True, blank=True)
    b_modified_at = models.DateTimeField(null=True, blank=True)
    # For a pending create: the values sent, to recognise the record after a crash.
    pending_fields = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)  # why it was unlinked or marked deleted

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sync", "a_id"],
                condition=Q(status__in=ACTIVE),
                name="link_a_once",
            ),
            models.UniqueConstraint(
                fields=["sync", "b_id"],
                condition=Q(status__in=ACTIVE),
                name="link_b_once",
            ),
        ]
        indexes = [
            models.Index(fields=["sync", "a_id"], name="link_sync_a"),
            models.Index(fields=["sync", "b_id"], name="link_sync_b"),
            models.Index(fields=["sync", "status"], name="link_sync_status"),
        ]

    def __str__(self) -> str:
        return f"{self.a_id or '?'} <-> {self.b_id or '?'} ({self.status})"


class InFlightWrite(TimeStampedModel):
    """One record's write that a system accepted and does later (a bulk job), until the
    run that settles it stores its outcome: the link, base and events the writing run
    would have stored had it waited (apps/syncs/engine/settle.py).

    `handle` is the connector's answer to pass to Connector.settle(). `detail` holds what
    settling needs of the plan: for a create, the source record's id and values; for an
    update, the changes written and the pair's values when it was planned; for a delete,
    its reason. `run_ref` and `settled_run_ref` are the ids of the runs (apps.runs'
    SyncRun, not imported here) that submitted and settled it, for the run pages.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "Waiting for the system's job"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="in_flight_writes")
    # SET_NULL: a failed create's pending link is dropped, its row stays for the run page.
    link = models.ForeignKey(
        RecordLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    side = models.CharField(max_length=1, choices=[("a", "A"), ("b", "B")])  # written to
    action = models.CharField(max_length=6, choices=Action.choices)
    record_id = models.CharField(max_length=255, blank=True)  # on `side` (once known)
    other_id = models.CharField(max_length=255, blank=True)  # its partner on the other side
    handle = models.JSONField()
    detail = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    outcome = models.TextField(blank=True)  # what settling found, as the run page shows it
    polls = models.PositiveIntegerField(default=0)  # settlements that found it in flight
    # A run left a changed record of this pair alone while the write was in flight: the
    # settling run reads the pair again (otherwise it has nothing new to read).
    missed = models.BooleanField(default=False)
    run_ref = models.BigIntegerField(null=True, blank=True)
    settled_run_ref = models.BigIntegerField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["sync", "state"], name="inflight_sync_state"),
            models.Index(fields=["run_ref"], name="inflight_run"),
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.side} ({self.state})"


class CommentLink(TimeStampedModel):
    """A comment and its copy on the other side, or a copy being written (pending).

    Like RecordLink: a pending row is stored before the copy is written and holds the text
    sent, so that a retry after a crash finds the copy instead of writing a second one.
    The fingerprints are of each side's text when the pair last agreed: a changed one is an
    edit (apps/syncs/engine/comments.py).
    """

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="comment_links")
    link = models.ForeignKey(RecordLink, on_delete=models.CASCADE, related_name="comment_links")
    a_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    b_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(
        max_length=10, choices=_choices(CommentLinkStatus), default=CommentLinkStatus.LINKED
    )
    source = models.CharField(max_length=1, choices=[("a", "A"), ("b", "B")])
    fingerprint_a = models.CharField(max_length=64, blank=True)
    fingerprint_b = models.CharField(max_length=64, blank=True)
    pending_text = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sync", "a_id"], name="comment_a_once"),
            models.UniqueConstraint(fields=["sync", "b_id"], name="comment_b_once"),
        ]
        indexes = [models.Index(fields=["link", "status"], name="comment_link_status")]

    def __str__(self) -> str:
        return f"comment {self.a_id or '?'} <-> {self.b_id or '?'} ({self.status})"


class WaitingReference(TimeStampedModel):
    """A reference field of a record not written to the other side yet: the record (or
    person) its value names has no counterpart there. Kept until a run writes the field
    (or the record no longer waits); a run reads again the records whose wait is over
    (engine/references.py).

    `side` and `record_id` are the record holding the reference; `value` what it holds.
    `due` is set when something a run cannot see changed (the people table), so that the
    next run reads the record again. `create` is where asking the via sync to create the
    referenced record stands (a mapping with `create_referenced`): "wanted" (to be asked
    once the run ends), "asked" (asked once, never again for this value), "refused" (that
    sync would not create it; `message` says why), or empty.
    """

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="waiting")
    mapping = models.ForeignKey(FieldMapping, on_delete=models.CASCADE, related_name="waiting")
    side = models.CharField(max_length=1, choices=[("a", "A"), ("b", "B")])
    record_id = models.CharField(max_length=255)
    other_id = models.CharField(max_length=255, blank=True)
    value = models.CharField(max_length=255)
    code = models.CharField(max_length=30)
    message = models.TextField(blank=True)
    due = models.BooleanField(default=False)
    create = models.CharField(
        max_length=10,
        choices=[("", "none"), ("wanted", "wanted"), ("asked", "asked"), ("refused", "refused")],
        blank=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sync", "mapping", "side", "record_id"], name="waiting_once"
            )
        ]
        indexes = [models.Index(fields=["sync", "side", "record_id"], name="waiting_record")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.side.upper()}.{self.record_id} waits for {self.value} ({self.code})"


class PersonMapping(WorkspaceScopedModel):
    """One person on two systems: an entry of the people table of a pair of connections.

    `value_a` is how the person appears on `connection_a` (an email, a login, or a user
    record's id), `value_b` on `connection_b`. The pair is stored with the lower connection
    id as A (services keep it so), so each pair of connections has one table. Entries win
    over email matching.
    """

    connection_a = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="+"
    )
    connection_b = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="+"
    )
    value_a = models.CharField(max_length=255)
    value_b = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection_a", "connection_b", "value_a"], name="person_a_once"
            ),
            models.UniqueConstraint(
                fields=["connection_a", "connection_b", "value_b"], name="person_b_once"
            ),
            models.CheckConstraint(
                condition=Q(connection_a__lt=models.F("connection_b")),
                name="person_connections_ordered",
            ),
        ]
        ordering = ["value_a", "id"]

    def __str__(self) -> str:
        return f"{self.value_a} = {self.value_b}"


class SyncCursor(TimeStampedModel):
    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="cursors")
    side = models.CharField(max_length=1, choices=[("a", "A"), ("b", "B")])
    value = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sync", "side"], name="one_cursor_per_side")]

    def __str__(self) -> str:
        return f"{self.sync_id}/{self.side}: {self.value}"


class Conflict(WorkspaceScopedModel):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        # A person chose the value; the run of the sync that writes it has not done so yet.
        DECIDED = "decided", "Decided, being applied"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"  # the link went away while it was open

    class Resolution(models.TextChoices):
        A = "a", "Value on A"
        B = "b", "Value on B"
        CUSTOM = "custom", "Custom value"
        CONVERGED = "converged", "Both sides came to agree"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="conflicts")
    link = models.ForeignKey(RecordLink, on_delete=models.CASCADE, related_name="conflicts")
    mapping = models.ForeignKey(FieldMapping, on_delete=models.CASCADE, related_name="+")
    base = models.JSONField(null=True, blank=True)  # {"a": v, "b": v}; null: first sync
    value_a = models.JSONField(null=True, blank=True)
    value_b = models.JSONField(null=True, blank=True)
    detected_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, blank=True)
    custom_value = models.JSONField(null=True, blank=True)
    # A person's decision, waiting for a run to write it: the value each side gets, in its
    # own terms ({"a": v, "b": v}), who decided and when. `error` is why the last decision
    # did not take (a system refused the value, or a side changed again after it).
    decided_values = models.JSONField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Set when the sync's conflict policy decided (prefer_a, prefer_b, newest).
    decided_by_policy = models.CharField(max_length=10, blank=True)
    reason = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "mapping"],
                condition=Q(status__in=["open", "decided"]),
                name="one_open_conflict_per_field",
            )
        ]
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"conflict on {self.mapping} ({self.status})"

    @property
    def losing_value(self) -> object:
        """The value that lost a policy decision (None for open or manual ones)."""
        if self.resolution == self.Resolution.A:
            return self.value_b
        if self.resolution == self.Resolution.B:
            return self.value_a
        return None


class SyncPreview(WorkspaceScopedModel):
    """A preview of a sync's next run (what it would match, create, update, delete, hold as a
    conflict), computed as a job on a worker: it reads both systems, which takes minutes on
    large record sets, so no request waits for it (apps/syncs/previews.py).

    While it runs, `read_a`, `read_b` and `pages` grow after every page read. Once it
    succeeded, `result` holds what the preview API answers: `{"counts": {...},
    "change_count": n, "samples": {...}}`; once it failed, `error` says why in words (a
    system's own explanation when a system failed) and `error_code` classifies it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="previews")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    sample_size = models.PositiveSmallIntegerField(default=5)
    full = models.BooleanField(default=False)
    read_a = models.PositiveIntegerField(default=0)
    read_b = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    # Records the sync's latest finished preview read: the progress bar's 100 %, a guess
    # (null when there is nothing to guess from).
    expected = models.PositiveIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    # Claims so far; a claim's number fences what it stores against a later claim's.
    attempts = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["sync", "-created_at"], name="preview_sync_recent"),
            models.Index(fields=["status", "updated_at"], name="preview_status_updated"),
        ]

    def __str__(self) -> str:
        return f"preview {self.pk} of {self.sync_id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def read(self) -> int:
        return self.read_a + self.read_b

    @property
    def percent(self) -> int | None:
        """How far along, 0-100: 100 once succeeded; while unfinished, the records read so
        far against `expected`, never 100 (None without a guess); None once failed."""
        if self.status == self.Status.SUCCEEDED:
            return 100
        if self.status == self.Status.FAILED or not self.expected:
            return None
        return min(99, self.read * 100 // self.expected)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
