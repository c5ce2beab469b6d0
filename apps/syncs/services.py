"""Writes for syncs: create and change them, switch them on and off, decide on a held mass
change, and run the engine over them.

Views, API views and the runs app call these; the rules live here, in validation.py,
conflicts.py and `engine/`. Running the engine here is synchronous and records nothing:
apps.runs executes runs (queue, lease, recorder) and records their outcome
(apps/runs/outcome.py). Refusals are domain errors (apps.core.errors) naming the input they
concern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.connections.services import connector_for, upstream_error
from apps.core.errors import Invalid, Refused
from apps.syncs.engine.dry_run import PageDone, Preview
from apps.syncs.engine.recorder import (
    CountingRecorder,
    Recorder,
    RunReport,
)
from apps.syncs.engine.references import via_column
from apps.syncs.engine.runner import Runner, RunOptions
from apps.syncs.engine.sides import CallCounter
from apps.syncs.engine.store import LinkStore, sync_spec
from apps.syncs.engine.types import LinkStatus, Side
from apps.syncs.models import (
    Conflict,
    FieldMapping,
    Filter,
    RecordLink,
    Sync,
    WaitingReference,
)
from apps.syncs.triggers import sync_trigger
from apps.syncs.validation import (
    Sides,
    comments_validate,
    fields_discover,
    filters_validate,
    loop_validate,
    mappings_validate,
    match_rule_validate,
    settings_validate,
)
from connectors.base import Connector
from connectors.errors import ConnectorError


def sync_paused_error(sync: Sync) -> Refused:
    """The refusal for acting on a paused sync; the message says why it is paused."""
    return Refused(f"the sync is paused: {sync.paused_reason}", code="sync_paused")


SETTINGS = (
    "name",
    "enabled",
    "interval_seconds",
    "conflict_policy",
    "initial_policy",
    "delete_policy",
    "safety_limit_share",
    "safety_limit_count",
    "comments",
    "comments_internal",
)


@transaction.atomic
def sync_create(
    *,
    workspace: Workspace,
    name: str,
    connection_a: Connection,
    object_type_a: str,
    connection_b: Connection,
    object_type_b: str,
    mappings: Sequence[Mapping[str, Any]],
    filters: Sequence[Mapping[str, Any]] = (),
    match_rule: Sequence[Mapping[str, Any]] = (),
    **settings: Any,
) -> Sync:
    """Validate against both systems' field discovery and store the sync with its mappings
    and filters, complete or not at all. `settings` are any of SETTINGS.

    Raises Invalid naming the input (`name`, `connection_b`, `mappings.1.direction`, ...),
    or UpstreamError when a system's fields cannot be read.
    """
    settings_validate(settings, allowed=SETTINGS)
    name = _name_free(workspace.pk, name)
    for side, connection in (("a", connection_a), ("b", connection_b)):
        if connection.workspace_id != workspace.pk:
            raise Invalid("that connection is not in this workspace", field=f"connection_{side}")
    if not mappings:
        raise Invalid(
            "a sync needs at least one field mapping", code="invalid_mapping", field="mappings"
        )
    fields = {
        Side.A: fields_discover(connection_a, object_type_a, Side.A),
        Side.B: fields_discover(connection_b, object_type_b, Side.B),
    }
    sides = Sides(
        workspace.pk,
        {Side.A: connection_a, Side.B: connection_b},
        {Side.A: object_type_a, Side.B: object_type_b},
    )
    checked = mappings_validate(mappings, fields, sides=sides)
    rule = match_rule_validate(match_rule, fields)
    checked_filters = filters_validate(filters, fields)
    comments_validate(
        settings.get("comments", "off"),
        {Side.A: (connection_a, object_type_a), Side.B: (connection_b, object_type_b)},
    )
    loop_validate(
        workspace.pk,
        ends=((connection_a.pk, object_type_a), (connection_b.pk, object_type_b)),
        conflict_policy=settings.get("conflict_policy", Sync.conflict_policy.field.default),
        initial_policy=settings.get("initial_policy", Sync.initial_policy.field.default),
    )
    try:
        with transaction.atomic():
            sync = Sync.objects.create(
                workspace=workspace,
                name=name,
                connection_a=connection_a,
                object_type_a=object_type_a,
                connection_b=connection_b,
                object_type_b=object_type_b,
                match_rule=rule,
                **settings,
            )
    except IntegrityError:  # the name was taken between the check and the insert
        raise _name_taken(name) from None
    FieldMapping.objects.bulk_create(FieldMapping(sync=sync, **m) for m in checked)
    Filter.objects.bulk_create(Filter(sync=sync, **f) for f in checked_filters)
    return sync


def _name_taken(name: str) -> Invalid:
    return Invalid(f"a sync named {name!r} already exists", field="name")


def _name_free(workspace_id: int, name: str, *, exclude: int | None = None) -> str:
    name = str(name).strip()
    if not name:
        raise Invalid("a sync needs a name", field="name")
    taken = Sync.objects.for_workspace(workspace_id).filter(name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise _name_taken(name)
    return name


@transaction.atomic
def sync_update(
    sync: Sync,
    *,
    filters: Sequence[Mapping[str, Any]] | None = None,
    match_rule: Sequence[Mapping[str, Any]] | None = None,
    **settings: Any,
) -> Sync:
    """Change settings, and replace filters or the match rule when given. A change of scope
    asks for a full resync on the next run (the same filters given again change nothing).
    Raises Invalid as sync_create does."""
    settings_validate(settings, allowed=SETTINGS)
    if "name" in settings:
        settings["name"] = _name_free(sync.workspace_id, settings["name"], exclude=sync.pk)
    if settings.get("comments", "off") != "off" and settings["comments"] != sync.comments:
        comments_validate(
            settings["comments"],
            {
                Side.A: (sync.connection_a, sync.object_type_a),
                Side.B: (sync.connection_b, sync.object_type_b),
            },
        )
    if {"conflict_policy", "initial_policy"} & set(settings):
        loop_validate(
            sync.workspace_id,
            ends=(
                (sync.connection_a_id, sync.object_type_a),
                (sync.connection_b_id, sync.object_type_b),
            ),
            conflict_policy=settings.get("conflict_policy", sync.conflict_policy),
            initial_policy=settings.get("initial_policy", sync.initial_policy),
            exclude=sync.pk,
        )
    for key, value in settings.items():
        setattr(sync, key, value)
    changed = set(settings)
    if filters is not None or match_rule is not None:
        fields = sync_fields(sync)
        if match_rule is not None:
            sync.match_rule = match_rule_validate(match_rule, fields)
            changed.add("match_rule")
        if filters is not None:
            checked = filters_validate(filters, fields)
            if checked != sync_filter_values(sync):
                Filter.objects.filter(sync=sync).delete()
                Filter.objects.bulk_create(Filter(sync=sync, **f) for f in checked)
                sync.resync_requested = True
                changed.add("resync_requested")
    # Only what changed: a run may be writing its outcome on the same row meanwhile.
    try:
        with transaction.atomic():
            sync.save(update_fields=[*sorted(changed), "updated_at"])
    except IntegrityError:  # the name was taken between the check and the update
        raise _name_taken(settings.get("name", sync.name)) from None
    return sync


def sync_filter_values(sync: Sync) -> list[dict[str, Any]]:
    """The sync's filters as `filters_validate` returns them, in order."""
    return [
        {"side": f.side, "field": f.field, "operator": f.operator, "value": f.value}
        for f in sync.filters.all()
    ]


def sync_name_check(workspace: Workspace, name: str, *, sync: Sync | None = None) -> str:
    """The name, trimmed, if no other sync of the workspace has it. Raises Invalid (`name`)
    when it is empty or taken: for a form that asks for the name before anything is saved
    (saving checks it again)."""
    return _name_free(workspace.pk, name, exclude=sync.pk if sync is not None else None)


def sync_fields(sync: Sync) -> dict[Side, dict[str, Any]]:
    """Field discovery of both sides of a sync. Raises UpstreamError or Invalid."""
    return {
        Side.A: fields_discover(sync.connection_a, sync.object_type_a, Side.A),
        Side.B: fields_discover(sync.connection_b, sync.object_type_b, Side.B),
    }


@transaction.atomic
def mapping_add(sync: Sync, **data: Any) -> FieldMapping:
    """Add a field mapping to a (possibly running) sync. Its first sync follows the sync's
    initial-sync setting, for every linked pair: the next run reads everything."""
    existing = [
        {"field_a": m.field_a, "field_b": m.field_b, "direction": m.direction}
        for m in sync.mappings.all()
    ]
    [checked] = mappings_validate(
        [data], sync_fields(sync), existing=existing, sides=Sides.of(sync)
    )
    mapping = FieldMapping.objects.create(sync=sync, **checked)
    Sync.objects.filter(pk=sync.pk).update(resync_requested=True)
    sync.resync_requested = True
    return mapping


@transaction.atomic
def mapping_remove(mapping: FieldMapping) -> None:
    """Remove a mapping; its open conflicts go with it (the field is no longer synced)."""
    Conflict.objects.filter(mapping=mapping).delete()
    mapping.delete()


def sync_pause(sync: Sync, *, reason: str) -> None:
    reason = reason.strip() or "paused by a person"
    Sync.objects.filter(pk=sync.pk).update(paused_reason=reason, paused_at=timezone.now())
    sync.refresh_from_db()


def sync_resume(sync: Sync) -> None:
    """Resume a paused sync. Raises Refused (`held_run_pending`) while a held mass change
    waits for a decision: approve or cancel it first."""
    sync.refresh_from_db()
    if sync.awaiting_approval:
        raise _held_run_pending()
    Sync.objects.filter(pk=sync.pk).update(
        paused_reason="", paused_at=None, consecutive_failures=0, next_run_at=timezone.now()
    )
    sync.refresh_from_db()


def sync_enable(sync: Sync) -> Sync:
    """Put the sync on its schedule, due at once. A paused sync is resumed (its failure
    count cleared). Raises Refused (`held_run_pending`) while a held mass change waits for
    a decision, leaving the sync as it was."""
    sync.refresh_from_db()
    if sync.awaiting_approval:
        raise _held_run_pending()
    with transaction.atomic():
        if sync.paused:
            sync_resume(sync)
        Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=timezone.now())
    sync.refresh_from_db()
    return sync


def sync_disable(sync: Sync) -> Sync:
    """Take the sync off its schedule and stop webhook-triggered runs. A run already queued
    or running finishes; nothing else changes (links, cursors and conflicts stay)."""
    Sync.objects.filter(pk=sync.pk).update(enabled=False)
    sync.refresh_from_db()
    return sync


def sync_delete(sync: Sync) -> None:
    """Delete the sync with its mappings, filters, links, conflicts and run history. The
    records in both systems are left as they are.

    Raises Refused (`sync_followed`) while a reference mapping of another sync translates
    through this sync's links, and (`sync_running`) while one of its runs is running:
    deleting the links under a run that is writing would leave records it creates
    unlinked. Disable the sync and cancel the run first. Queued runs are deleted with the
    sync (a worker finds nothing to do).
    """
    with transaction.atomic():
        locked = Sync.objects.select_for_update().filter(pk=sync.pk).first()
        if locked is None:
            return
        # `runs` is the reverse relation of apps.runs' SyncRun; the running state is a
        # string here because syncs sits beneath runs and does not import it.
        follower = locked.followed_by.select_related("sync").first()
        if follower is not None and follower.sync_id != locked.pk:
            raise Refused(
                f"the mapping {follower} of the sync {follower.sync.name} translates its "
                "references through this sync's links; remove that mapping first",
                code="sync_followed",
            )
        if locked.runs.filter(status="running").exists():
            raise Refused(
                "a run of this sync is in progress; disable the sync and cancel the run "
                "(or wait for it to finish), then delete it",
                code="sync_running",
            )
        locked.delete()


# --- running ---------------------------------------------------------------------------------
def _connectors(sync: Sync, recorder: Recorder | None) -> tuple[dict[Side, Connector], list]:
    counters = [CallCounter(Side.A), CallCounter(Side.B)]
    for counter in counters:
        counter.recorder = recorder
    connectors = {
        Side.A: connector_for(sync.connection_a, on_call=counters[0]),
        Side.B: connector_for(sync.connection_b, on_call=counters[1]),
    }
    if recorder is not None:
        # Paging loops inside a connector call ask the recorder whether to stop (a run
        # cancelled while a system pages without end must stop there, not at a checkpoint).
        for connector in connectors.values():
            connector.interrupt = recorder.interrupt
    return connectors, counters


def _runner(
    sync: Sync, connectors: dict[Side, Connector], recorder: Recorder, counters: list
) -> Runner:
    return Runner(
        spec=sync_spec(sync),
        store=LinkStore(sync),
        connectors=connectors,
        object_types={Side.A: sync.object_type_a, Side.B: sync.object_type_b},
        recorder=recorder,
        safety_limit_share=sync.safety_limit_share,
        safety_limit_count=sync.safety_limit_count,
        api_calls=lambda: sum(c.calls for c in counters),
    )


def sync_engine_run(
    sync: Sync,
    *,
    recorder: Recorder,
    trigger: str,
    full: bool = False,
    record_ids: Mapping[str, Sequence[str]] | None = None,
    retry_ids: Mapping[str, Sequence[str]] | None = None,
    approved: bool = False,
) -> RunReport:
    """Run the engine over the sync once, synchronously, reporting to `recorder`.

    Only apps.runs calls this, for a run it holds the sync's lease for; it records the
    outcome. `record_ids` ({"a": [...], "b": [...]}) runs only those records, fetched with
    get(); cursors stay where they are. `retry_ids` (same shape) are records that failed in
    an earlier run, read again before the feed. `full` reads both sides from the start.
    `approved` lets the run pass the mass-change safety limit. Connector failures do not
    raise: the report says FAILED and why. RunInterrupted (raised by the recorder between
    batches) propagates.
    """
    connectors, counters = _connectors(sync, recorder)
    ids = None
    if record_ids is not None:
        ids = {Side(k): list(v) for k, v in record_ids.items()}
    try:
        return _runner(sync, connectors, recorder, counters).run(
            RunOptions(
                trigger=trigger,
                full=full and ids is None,
                record_ids=ids,
                approved=approved,
                retry_ids={Side(k): list(v) for k, v in (retry_ids or {}).items()} or None,
                batch_size=settings.CONCORD_RUN_BATCH_SIZE,
            )
        )
    finally:
        for connector in connectors.values():
            connector.close()


def references_follow_up(sync: Sync) -> dict[int, list[str]]:
    """After a run of `sync`: ask for a run of each sync whose references wait for records
    `sync` links now, of just those records (so the field is written at once, not at that
    sync's next scheduled run). The waiting record ids asked for, by sync id.

    Callers: apps.runs, once a run of `sync` has stored what it did.
    """
    rows = (
        WaitingReference.objects.filter(
            mapping__reference_via=sync, code="reference_unlinked", due=False
        )
        .select_related("sync")
        .order_by("id")
    )
    waiting: dict[tuple[int, str], dict[str, list[str]]] = {}
    syncs: dict[int, Sync] = {}
    for row in rows:
        syncs[row.sync_id] = row.sync
        waiting.setdefault((row.sync_id, row.side), {}).setdefault(row.value, []).append(
            row.record_id
        )
    asked: dict[int, dict[str, list[str]]] = {}
    for (sync_id, side), by_value in waiting.items():
        follower = syncs[sync_id]
        column = via_column(Side(side), flipped=sync.connection_a_id != follower.connection_a_id)
        linked = RecordLink.objects.filter(
            sync=sync, status=LinkStatus.LINKED, **{f"{column}__in": sorted(by_value)}
        ).values_list(column, flat=True)
        ids = [record_id for value in linked for record_id in by_value[value]]
        if ids:
            asked.setdefault(sync_id, {"a": [], "b": []})[side] += ids
    for sync_id, record_ids in asked.items():
        follower = syncs[sync_id]
        if follower.enabled and not follower.paused:
            sync_trigger(follower, trigger="reference", record_ids=record_ids)
    return {sync_id: [*ids["a"], *ids["b"]] for sync_id, ids in asked.items()}


def references_create_request(sync: Sync) -> dict[int, dict[str, list[str]]]:
    """After a run of `sync`: ask each via sync, once, to create the referenced records its
    references wait for where the mapping says so (WaitingReference.create "wanted"), with
    one targeted run per via sync of just those records. The rows become "asked" (never
    asked for again). The ids asked for, by via sync id and its side.

    Callers: apps.runs, once a run of `sync` has stored what it did.
    """
    rows = (
        WaitingReference.objects.filter(sync=sync, create="wanted")
        .select_related("mapping__reference_via")
        .order_by("id")
    )
    asked: dict[int, dict[str, list[str]]] = {}
    vias: dict[int, Sync] = {}
    done: list[int] = []
    for row in rows:
        via = row.mapping.reference_via
        if via is None:
            continue
        flipped = via.connection_a_id != sync.connection_a_id
        via_side = Side(row.side).other if flipped else Side(row.side)
        ids = asked.setdefault(via.pk, {"a": [], "b": []})[via_side.value]
        if row.value not in ids:
            ids.append(row.value)
        vias[via.pk] = via
        done.append(row.pk)
    if not done:
        return {}
    WaitingReference.objects.filter(pk__in=done).update(create="asked")
    for via_id, record_ids in asked.items():
        sync_trigger(vias[via_id], trigger="reference", record_ids=record_ids)
    return asked


def sync_preview(
    sync: Sync, *, sample_size: int = 5, full: bool = False, on_page: PageDone | None = None
) -> Preview:
    """What the next run would do, without writing anything anywhere.

    For a new sync (no cursors yet) that is the initial matching: counts of records matched,
    created per side, updated per side, in conflict, with up to `sample_size` samples each.
    It reads both systems, so it can take minutes: requests ask for it as a job
    (apps/syncs/previews.py), which passes `on_page` to hear of every page read.
    Raises UpstreamError when a system cannot be read.
    """
    recorder = CountingRecorder()
    connectors, counters = _connectors(sync, recorder)
    try:
        return _runner(sync, connectors, recorder, counters).preview(
            RunOptions(trigger="preview", full=full or sync.resync_requested),
            sample_size=sample_size,
            on_page=on_page,
        )
    except ConnectorError as exc:
        raise upstream_error(exc) from exc
    finally:
        for connector in connectors.values():
            connector.close()


def _no_held_change() -> Refused:
    return Refused("no run of this sync is waiting for approval", code="no_held_run")


def _held_run_pending() -> Refused:
    return Refused(
        "a run held by the safety limit waits for approval: approve or cancel it first",
        code="held_run_pending",
    )


def held_change_release(sync: Sync) -> None:
    """Approve the held mass change: unpause the sync so that one run may pass the safety
    limit (apps.runs queues that run). Raises Refused (`no_held_run`) when none waits."""
    claimed = Sync.objects.filter(pk=sync.pk, held_change__isnull=False).update(
        held_change=None, paused_reason="", paused_at=None
    )
    if not claimed:
        raise _no_held_change()
    sync.refresh_from_db()


def held_change_cancel(sync: Sync, *, user: Any = None) -> None:
    """Cancel the held mass change. Nothing is written; the sync stays paused (saying who
    cancelled) until someone fixes the cause and resumes it."""
    who = getattr(user, "email", None) or str(user or "someone")
    claimed = Sync.objects.filter(pk=sync.pk, held_change__isnull=False).update(
        held_change=None,
        paused_reason=f"A held mass change was cancelled by {who}; resume the sync once "
        "the cause is fixed.",
        paused_at=timezone.now(),
    )
    if not claimed:
        raise _no_held_change()
    sync.refresh_from_db()
