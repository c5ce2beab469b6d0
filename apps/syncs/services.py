"""Writes for syncs: create and change them, run them, preview them, resolve conflicts.

Views, API views and tasks call these; the rules live here and in `engine/`. A run is
synchronous here: the orchestration (locks, Celery, the dispatcher) calls `sync_run`. The
caller passes a recorder (apps.runs has the one that writes SyncRun/SyncEvent rows); without
one, a CountingRecorder keeps the trail in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.connections.services import connector_for
from apps.syncs.engine.dry_run import Preview
from apps.syncs.engine.filters import LIST_OPERATORS, VALUELESS_OPERATORS, Operator
from apps.syncs.engine.recorder import (
    Action,
    CountingRecorder,
    EngineEvent,
    Outcome,
    Recorder,
    RunInterrupted,
    RunReport,
)
from apps.syncs.engine.runner import Runner, RunOptions
from apps.syncs.engine.sides import CallCounter
from apps.syncs.engine.store import LinkStore, mapping_spec, sync_spec
from apps.syncs.engine.types import (
    ConflictPolicy,
    DeletePolicy,
    Direction,
    InitialPolicy,
    LinkStatus,
    Side,
)
from apps.syncs.engine.values import (
    KIND_OF_FIELD_TYPE,
    ConversionError,
    Kind,
    Normalise,
    compatible,
    convert,
    map_key,
)
from apps.syncs.models import (
    MIN_INTERVAL_SECONDS,
    Conflict,
    FieldMapping,
    Filter,
    RecordLink,
    Sync,
)
from connectors.base import Connector, FieldSpec, RecordUpdate
from connectors.errors import ConnectorError


def max_consecutive_failures() -> int:
    """A sync that fails this many runs in a row pauses itself with the last error as the
    reason (CONCORD_SYNC_MAX_FAILURES)."""
    return settings.CONCORD_SYNC_MAX_FAILURES


class SyncError(Exception):
    """A sync cannot be saved or acted on as asked. `field` names the offending input."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SyncPaused(SyncError):
    """The sync is paused; the message is the reason."""


# --- field discovery and validation -----------------------------------------------------------
def _discover(connection: Connection, object_type: str, side: str) -> dict[str, FieldSpec]:
    connector = connector_for(connection)
    try:
        types = {t.name for t in connector.object_types()}
        if object_type not in types:
            raise SyncError(
                f"{connection.name} has no object type {object_type!r} "
                f"(it has: {', '.join(sorted(types)) or 'none'})",
                field=f"object_type_{side}",
            )
        return {spec.name: spec for spec in connector.fields(object_type)}
    except ConnectorError as exc:
        raise SyncError(f"could not read the fields of {connection.name}: {exc}") from exc
    finally:
        connector.close()


def _kind(spec: FieldSpec, explicit: str | None, label: str) -> Kind:
    natural = KIND_OF_FIELD_TYPE[spec.type]
    if not explicit:
        return natural
    try:
        kind = Kind(explicit)
    except ValueError:
        raise SyncError(f"{label}: unknown conversion type {explicit!r}") from None
    if not compatible(natural, kind):
        raise SyncError(f"{label}: a {spec.type} field cannot be treated as {kind}")
    return kind


def mapping_validate(
    data: Mapping[str, Any],
    fields_a: Mapping[str, FieldSpec],
    fields_b: Mapping[str, FieldSpec],
) -> dict[str, Any]:
    """Check one mapping against field discovery; return the FieldMapping values.

    Raises SyncError naming the reason: an unknown field, a read-only target, incompatible
    types, an enum option with no counterpart (and no value-map entry), a value-map entry
    that is not an option of its target, or a default the target cannot hold.
    """
    field_a, field_b = str(data.get("field_a", "")), str(data.get("field_b", ""))
    label = f"{field_a} <-> {field_b}"
    try:
        direction = Direction(data.get("direction", Direction.BOTH))
    except ValueError:
        raise SyncError(f"{label}: unknown direction {data.get('direction')!r}") from None
    spec_a, spec_b = fields_a.get(field_a), fields_b.get(field_b)
    if spec_a is None:
        raise SyncError(f"{label}: side A has no field {field_a!r}", field="field_a")
    if spec_b is None:
        raise SyncError(f"{label}: side B has no field {field_b!r}", field="field_b")
    specs = {Side.A: spec_a, Side.B: spec_b}
    kinds = {
        Side.A: _kind(spec_a, data.get("kind_a"), label),
        Side.B: _kind(spec_b, data.get("kind_b"), label),
    }
    options = {side: spec.option_values() for side, spec in specs.items()}
    maps = {
        Side.B: dict(data.get("value_map_a_to_b") or {}),
        Side.A: dict(data.get("value_map_b_to_a") or {}),
    }
    defaults = {Side.A: data.get("default_a"), Side.B: data.get("default_b")}
    targets = [
        s for s in (Side.B, Side.A) if direction is Direction.BOTH or direction.value.endswith(s)
    ]
    for target in targets:
        source = target.other
        t_spec, s_spec = specs[target], specs[source]
        where = f"{target.label}.{t_spec.name}"
        if not t_spec.writable:
            raise SyncError(
                f"{label}: {where} is read-only, so it cannot receive values "
                f"(direction {direction})",
                field="direction",
            )
        if not compatible(kinds[source], kinds[target]):
            raise SyncError(
                f"{label}: incompatible types: {source.label}.{s_spec.name} is "
                f"{kinds[source]}, {where} is {kinds[target]}"
            )
        value_map = maps[target]
        enum_target = kinds[target] in (Kind.ENUM, Kind.MULTI_ENUM) and options[target]
        if value_map and enum_target:
            for key, value in value_map.items():
                for item in value if isinstance(value, list) else [value]:
                    if item not in options[target]:
                        raise SyncError(
                            f"{label}: the value map sends {key!r} to {item!r}, which is not "
                            f"an option of {where}",
                            field=f"value_map_{source}_to_{target}",
                        )
        if options[source] and (value_map or enum_target):
            known = set(value_map) if value_map else set(options[target])
            missing = [o for o in options[source] if map_key(o) not in known]
            if missing:
                fix = "add it to the value map" if value_map else "add a value map"
                raise SyncError(
                    f"{label}: option {missing[0]!r} of {source.label}.{s_spec.name} has no "
                    f"counterpart in {where}; {fix}",
                    field=f"value_map_{source}_to_{target}",
                )
        if defaults[target] is not None:
            try:
                convert(defaults[target], kinds[target], kinds[target], options=options[target])
            except ConversionError as exc:
                raise SyncError(f"{label}: the default for {where} is invalid: {exc}") from None
    return {
        "field_a": field_a,
        "field_b": field_b,
        "direction": direction.value,
        "kind_a": kinds[Side.A].value,
        "kind_b": kinds[Side.B].value,
        "options_a": options[Side.A],
        "options_b": options[Side.B],
        "value_map_a_to_b": maps[Side.B] if Side.B in targets else {},
        "value_map_b_to_a": maps[Side.A] if Side.A in targets else {},
        "default_a": defaults[Side.A],
        "default_b": defaults[Side.B],
    }


def _check_targets(mappings: Iterable[Mapping[str, Any]]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for m in mappings:
        for side in Side:
            direction = m["direction"]
            if direction == Direction.BOTH or direction.endswith(side.value):
                key = (side.value, m[f"field_{side.value}"])
                if key in seen:
                    raise SyncError(
                        f"{side.label}.{key[1]} is written by two mappings "
                        f"({seen[key]} and {m['field_a']} <-> {m['field_b']})"
                    )
                seen[key] = f"{m['field_a']} <-> {m['field_b']}"


def _filters_validate(
    filters: Iterable[Mapping[str, Any]], fields: Mapping[Side, Mapping[str, FieldSpec]]
) -> list[dict[str, Any]]:
    out = []
    for f in filters:
        side = str(f.get("side", "")).lower()
        if side not in ("a", "b"):
            raise SyncError(f"a filter's side must be 'a' or 'b', not {side!r}", field="filters")
        name = str(f.get("field", ""))
        if name not in fields[Side(side)]:
            raise SyncError(f"filter: side {side.upper()} has no field {name!r}", field="filters")
        try:
            operator = Operator(f.get("operator"))
        except ValueError:
            raise SyncError(f"filter on {name}: unknown operator {f.get('operator')!r}") from None
        value = f.get("value")
        if operator in LIST_OPERATORS and not isinstance(value, list):
            raise SyncError(f"filter on {name}: {operator} needs a list of values")
        needs_value = operator not in VALUELESS_OPERATORS and operator not in LIST_OPERATORS
        if needs_value and value is None:
            raise SyncError(f"filter on {name}: {operator} needs a value")
        out.append({"side": side, "field": name, "operator": operator.value, "value": value})
    return out


def _match_rule_validate(
    rule: Iterable[Mapping[str, Any]], fields: Mapping[Side, Mapping[str, FieldSpec]]
) -> list[dict[str, str]]:
    out = []
    for pair in rule:
        a, b = str(pair.get("a", "")), str(pair.get("b", ""))
        if a not in fields[Side.A] or b not in fields[Side.B]:
            raise SyncError(f"match rule: {a!r} or {b!r} is not a field", field="match_rule")
        try:
            normalise = Normalise(pair.get("normalise", Normalise.EMAIL))
        except ValueError:
            raise SyncError(
                f"match rule: unknown normalisation {pair.get('normalise')!r}"
            ) from None
        out.append({"a": a, "b": b, "normalise": normalise.value})
    return out


def _settings_validate(values: Mapping[str, Any]) -> None:
    checks = {
        "conflict_policy": ConflictPolicy,
        "initial_policy": InitialPolicy,
        "delete_policy": DeletePolicy,
    }
    for name, enum_cls in checks.items():
        if name in values:
            try:
                enum_cls(values[name])
            except ValueError:
                raise SyncError(f"unknown {name} {values[name]!r}", field=name) from None
    if "interval_seconds" in values and int(values["interval_seconds"]) < MIN_INTERVAL_SECONDS:
        raise SyncError(
            f"the schedule interval is at least {MIN_INTERVAL_SECONDS} seconds",
            field="interval_seconds",
        )
    share = values.get("safety_limit_share")
    if share is not None and not 0 < float(share) <= 1:
        raise SyncError("the safety share is a fraction in (0, 1]", field="safety_limit_share")


SETTINGS = (
    "name",
    "enabled",
    "interval_seconds",
    "conflict_policy",
    "initial_policy",
    "delete_policy",
    "safety_limit_share",
    "safety_limit_count",
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
    and filters. `settings` are any of SETTINGS. Raises SyncError with the reason."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise SyncError(f"unknown settings: {', '.join(sorted(unknown))}")
    name = name.strip()
    if not name:
        raise SyncError("a sync needs a name", field="name")
    for side, connection in (("a", connection_a), ("b", connection_b)):
        if connection.workspace_id != workspace.pk:
            raise SyncError("that connection is not in this workspace", field=f"connection_{side}")
    if Sync.objects.for_workspace(workspace).filter(name=name).exists():
        raise SyncError(f"a sync named {name!r} already exists", field="name")
    _settings_validate(settings)
    if not mappings:
        raise SyncError("a sync needs at least one field mapping", field="mappings")
    fields = {
        Side.A: _discover(connection_a, object_type_a, "a"),
        Side.B: _discover(connection_b, object_type_b, "b"),
    }
    checked = [mapping_validate(m, fields[Side.A], fields[Side.B]) for m in mappings]
    _check_targets(checked)
    sync = Sync.objects.create(
        workspace=workspace,
        name=name,
        connection_a=connection_a,
        object_type_a=object_type_a,
        connection_b=connection_b,
        object_type_b=object_type_b,
        match_rule=_match_rule_validate(match_rule, fields),
        **settings,
    )
    FieldMapping.objects.bulk_create(FieldMapping(sync=sync, **m) for m in checked)
    Filter.objects.bulk_create(Filter(sync=sync, **f) for f in _filters_validate(filters, fields))
    return sync


@transaction.atomic
def sync_update(
    sync: Sync,
    *,
    filters: Sequence[Mapping[str, Any]] | None = None,
    match_rule: Sequence[Mapping[str, Any]] | None = None,
    **settings: Any,
) -> Sync:
    """Change settings, and replace filters or the match rule when given. A change of scope
    asks for a full resync on the next run."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise SyncError(f"unknown settings: {', '.join(sorted(unknown))}")
    _settings_validate(settings)
    if "name" in settings:
        settings["name"] = str(settings["name"]).strip()
        taken = (
            Sync.objects.for_workspace(sync.workspace_id)
            .filter(name=settings["name"])
            .exclude(pk=sync.pk)
            .exists()
        )
        if not settings["name"] or taken:
            raise SyncError(f"the name {settings['name']!r} is empty or taken", field="name")
    for key, value in settings.items():
        setattr(sync, key, value)
    changed = set(settings)
    if filters is not None or match_rule is not None:
        fields = {
            Side.A: _discover(sync.connection_a, sync.object_type_a, "a"),
            Side.B: _discover(sync.connection_b, sync.object_type_b, "b"),
        }
        if match_rule is not None:
            sync.match_rule = _match_rule_validate(match_rule, fields)
            changed.add("match_rule")
        if filters is not None:
            checked = _filters_validate(filters, fields)
            Filter.objects.filter(sync=sync).delete()
            Filter.objects.bulk_create(Filter(sync=sync, **f) for f in checked)
            sync.resync_requested = True
            changed.add("resync_requested")
    # Only what changed: a run may be writing its outcome on the same row meanwhile.
    sync.save(update_fields=[*sorted(changed), "updated_at"])
    return sync


@transaction.atomic
def mapping_add(sync: Sync, **data: Any) -> FieldMapping:
    """Add a field mapping to a (possibly running) sync. Its first sync follows the sync's
    initial-sync setting, for every linked pair: the next run reads everything."""
    fields_a = _discover(sync.connection_a, sync.object_type_a, "a")
    fields_b = _discover(sync.connection_b, sync.object_type_b, "b")
    checked = mapping_validate(data, fields_a, fields_b)
    existing = [
        {"field_a": m.field_a, "field_b": m.field_b, "direction": m.direction}
        for m in sync.mappings.all()
    ]
    _check_targets([*existing, checked])
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
    """Resume a paused sync. A held mass change must be approved or cancelled first."""
    sync.refresh_from_db()
    if sync.awaiting_approval:
        raise SyncError("a held run waits for approval: approve or cancel it first")
    Sync.objects.filter(pk=sync.pk).update(
        paused_reason="", paused_at=None, consecutive_failures=0, next_run_at=timezone.now()
    )
    sync.refresh_from_db()


# --- running ---------------------------------------------------------------------------------
def _connectors(sync: Sync, recorder: Recorder | None) -> tuple[dict[Side, Connector], list]:
    counters = [CallCounter(Side.A), CallCounter(Side.B)]
    for counter in counters:
        counter.recorder = recorder
    connectors = {
        Side.A: connector_for(sync.connection_a, on_call=counters[0]),
        Side.B: connector_for(sync.connection_b, on_call=counters[1]),
    }
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


def sync_run(
    sync: Sync,
    *,
    trigger: str = "manual",
    full: bool = False,
    record_ids: Mapping[str, Sequence[str]] | None = None,
    recorder: Recorder | None = None,
    approved: bool = False,
    retry_ids: Mapping[str, Sequence[str]] | None = None,
) -> RunReport:
    """Run the engine once, synchronously, and record the outcome on the sync.

    `record_ids` ({"a": [...], "b": [...]}) runs only those records (webhooks), fetched with
    get(); cursors stay where they are. `retry_ids` (same shape) are records that failed in
    an earlier run, read again before the feed. `full` reads both sides from the start.
    A run held by the safety limit pauses the sync until run_approve/run_cancel. Raises
    SyncPaused for a paused sync. Connector failures do not raise: the report says FAILED
    and why.
    """
    sync.refresh_from_db()
    if sync.paused and not approved:
        raise SyncPaused(sync.paused_reason)
    recorder = recorder or CountingRecorder()
    connectors, counters = _connectors(sync, recorder)
    full = full or sync.resync_requested
    ids = None
    if record_ids is not None:
        ids = {Side(k): list(v) for k, v in record_ids.items()}
    try:
        report = _runner(sync, connectors, recorder, counters).run(
            RunOptions(
                trigger=trigger,
                full=full and ids is None,
                record_ids=ids,
                approved=approved,
                retry_ids={Side(k): list(v) for k, v in (retry_ids or {}).items()} or None,
            )
        )
    except RunInterrupted:
        raise  # the orchestration stopped it between batches: not a failure of the sync
    except Exception as exc:
        _record_outcome(sync, RunReport(Outcome.FAILED, error=repr(exc)), full=False)
        raise
    finally:
        for connector in connectors.values():
            connector.close()
    _record_outcome(sync, report, full=full and ids is None)
    return report


def _record_outcome(sync: Sync, report: RunReport, *, full: bool) -> None:
    now = timezone.now()
    values: dict[str, Any] = {
        "last_run_at": now,
        "next_run_at": now + timedelta(seconds=sync.interval_seconds),
    }
    if report.outcome is Outcome.HELD:
        values.update(
            paused_reason=f"Mass change held: {report.held_reason}.",
            paused_at=now,
            held_change={
                "changes": report.counters.get("held_changes", 0),
                "reason": report.held_reason,
                "held_at": now.isoformat(),
            },
        )
    elif report.outcome is Outcome.FAILED:
        values.update(
            last_error=report.error[:4000], consecutive_failures=F("consecutive_failures") + 1
        )
    else:
        values.update(last_success_at=now, last_error="", consecutive_failures=0)
        if full:
            values["resync_requested"] = False
    Sync.objects.filter(pk=sync.pk).update(**values)
    if report.outcome is Outcome.FAILED:
        Sync.objects.filter(
            pk=sync.pk,
            consecutive_failures__gte=max_consecutive_failures(),
            paused_reason="",
        ).update(
            paused_reason=f"Paused after {max_consecutive_failures()} failed runs in a row; "
            f"the last error: {report.error[:500]}",
            paused_at=now,
        )
    sync.refresh_from_db()


def sync_preview(sync: Sync, *, sample_size: int = 5, full: bool = False) -> Preview:
    """What the next run would do, without writing anything anywhere.

    For a new sync (no cursors yet) that is the initial matching: counts of records matched,
    created per side, updated per side, in conflict, with up to `sample_size` samples each.
    Raises SyncError when a system cannot be read.
    """
    recorder = CountingRecorder()
    connectors, counters = _connectors(sync, recorder)
    try:
        return _runner(sync, connectors, recorder, counters).preview(
            RunOptions(trigger="preview", full=full or sync.resync_requested),
            sample_size=sample_size,
        )
    except ConnectorError as exc:
        raise SyncError(f"could not preview: {exc}") from exc
    finally:
        for connector in connectors.values():
            connector.close()


def held_change_release(sync: Sync) -> None:
    """Approve the held mass change: unpause the sync so that one run may pass the safety
    limit. The caller runs it (run_approve here, or a queued "approval" run on a worker)."""
    claimed = Sync.objects.filter(pk=sync.pk, held_change__isnull=False).update(
        held_change=None, paused_reason="", paused_at=None
    )
    if not claimed:
        raise SyncError("no run of this sync is waiting for approval")
    sync.refresh_from_db()


def run_approve(sync: Sync, *, user: Any = None, recorder: Recorder | None = None) -> RunReport:
    """Approve the held mass change and run once past the safety limit, synchronously."""
    held_change_release(sync)
    return sync_run(sync, trigger="approval", recorder=recorder, approved=True)


def run_cancel(sync: Sync, *, user: Any = None) -> None:
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
        raise SyncError("no run of this sync is waiting for approval")
    sync.refresh_from_db()


# --- conflicts -------------------------------------------------------------------------------
def conflict_resolve(
    conflict: Conflict,
    *,
    resolution: str,
    custom_value: Any = None,
    user: Any = None,
    recorder: Recorder | None = None,
) -> Conflict:
    """Resolve an open conflict with A's value, B's value or a custom value (given in A's
    terms, converted for B like any synced value). Writes what is needed to both sides,
    stores the agreed values as the base and closes the conflict.

    Raises SyncError when the conflict is not open, the records are no longer linked or
    exist no more, the value cannot be converted, or a system refuses the write.
    """
    conflict.refresh_from_db()
    if conflict.status != Conflict.Status.OPEN:
        raise SyncError(f"the conflict is already {conflict.status}")
    if resolution not in (Conflict.Resolution.A, Conflict.Resolution.B, Conflict.Resolution.CUSTOM):
        raise SyncError(f"a resolution is 'a', 'b' or 'custom', not {resolution!r}")
    link = conflict.link
    if link.status != LinkStatus.LINKED:
        raise SyncError("the two records are no longer linked")
    sync = conflict.sync
    mapping = mapping_spec(conflict.mapping)
    try:
        if resolution == Conflict.Resolution.A:
            value_a = conflict.value_a
            value_b = mapping.convert_to(Side.B, value_a)
        elif resolution == Conflict.Resolution.B:
            value_b = conflict.value_b
            value_a = mapping.convert_to(Side.A, value_b)
        else:
            value_a = convert(
                custom_value, mapping.kind_a, mapping.kind_a, options=mapping.options_a
            )
            value_b = mapping.convert_to(Side.B, value_a)
    except ConversionError as exc:
        raise SyncError(f"that value cannot be used: {exc}") from exc
    recorder = recorder or CountingRecorder()
    connectors, _ = _connectors(sync, None)
    wanted = {Side.A: value_a, Side.B: value_b}
    ids = {Side.A: link.a_id, Side.B: link.b_id}
    types = {Side.A: sync.object_type_a, Side.B: sync.object_type_b}
    final: dict[Side, Any] = {}
    records = {}
    try:
        for side in Side:
            connector = connectors[side]
            found = connector.get(types[side], [ids[side]])
            if not found:
                raise SyncError(f"record {ids[side]} no longer exists on {side.label}")
            current = found[0]
            name = mapping.field(side)
            before = current.fields.get(name)
            records[side] = current
            if mapping.same(side, before, wanted[side]):
                final[side] = before
                continue
            result = connector.update(
                types[side], [RecordUpdate(current.id, {name: wanted[side]})]
            )[0]
            if not result.ok or result.record is None:
                raise SyncError(f"{side.label} refused the value: {result.error}")
            records[side] = result.record
            final[side] = result.record.fields.get(name, wanted[side])
            recorder.event(
                EngineEvent(
                    Action.UPDATED,
                    side,
                    link.a_id,
                    link.b_id,
                    changes={name: {"before": before, "after": final[side]}},
                    message=f"conflict resolved with {resolution}",
                    code="resolution",
                )
            )
    except ConnectorError as exc:
        raise SyncError(f"could not write the resolution: {exc}") from exc
    finally:
        for connector in connectors.values():
            connector.close()
    now = timezone.now()
    with transaction.atomic():
        locked = RecordLink.objects.select_for_update().get(pk=link.pk)
        base = dict(locked.base or {})
        base[str(conflict.mapping_id)] = {"a": final[Side.A], "b": final[Side.B]}
        RecordLink.objects.filter(pk=link.pk).update(
            base=base,
            a_version=records[Side.A].version or "",
            b_version=records[Side.B].version or "",
            a_modified_at=records[Side.A].modified_at,
            b_modified_at=records[Side.B].modified_at,
            updated_at=now,
        )
        Conflict.objects.filter(pk=conflict.pk, status=Conflict.Status.OPEN).update(
            status=Conflict.Status.RESOLVED,
            resolution=resolution,
            custom_value=value_a if resolution == Conflict.Resolution.CUSTOM else None,
            resolved_by=user if getattr(user, "pk", None) else None,
            resolved_at=now,
        )
    conflict.refresh_from_db()
    return conflict
