"""A person's decisions on conflicts: recorded here, applied by a run of the sync.

Deciding writes nothing to either system. It checks the decision, converts the chosen
value for both sides, marks the conflict decided and asks for one run of the sync's
records (apps.syncs.triggers; the runs app queues it, folded with any run already queued).
That run applies the decision under the sync's lease, through the engine's own write and
base path, and closes the conflict once both sides hold the value, or reopens it with the
system's refusal. Any later run of the sync also applies decisions still pending, so a
paused sync applies them when it resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from apps.connections.services import connector_for, upstream_error
from apps.core.errors import DomainError, Invalid, Refused
from apps.syncs.engine.plan_types import MappingSpec, SyncSpec
from apps.syncs.engine.references import References
from apps.syncs.engine.sides import SideConnector, SideFailure
from apps.syncs.engine.store import mapping_spec
from apps.syncs.engine.types import LinkStatus, Side
from apps.syncs.engine.values import ConversionError, convert
from apps.syncs.models import Conflict, Sync
from apps.syncs.triggers import RequestedRun, sync_trigger
from connectors.base import Record

CHOICES = (Conflict.Resolution.A, Conflict.Resolution.B, Conflict.Resolution.CUSTOM)


@dataclass
class Decisions:
    """What a batch of decisions came to: the conflicts now decided, the refusals by
    conflict id, and the run that applies them per sync (None for a paused sync, whose
    next run after it resumes applies them)."""

    decided: list[Conflict] = field(default_factory=list)
    refused: dict[int, DomainError] = field(default_factory=dict)
    runs: dict[int, RequestedRun | None] = field(default_factory=dict)

    def run_for(self, conflict: Conflict) -> RequestedRun | None:
        return self.runs.get(conflict.sync_id)


def conflict_not_open(conflict: Conflict) -> Refused:
    return Refused(f"the conflict is already {conflict.status}", code="conflict_already_resolved")


def _decided_values(conflict: Conflict, resolution: str, custom_value: Any) -> dict[str, Any]:
    """The value each side is to hold, in its own terms. Raises Invalid (`value`)."""
    mapping = mapping_spec(conflict.mapping)
    if mapping.reference is not None:
        mapping = _translations(
            conflict, mapping, [conflict.value_a, custom_value], conflict.value_b
        )
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
        raise Invalid(f"that value cannot be used: {exc}", field="value") from exc
    return {"a": value_a, "b": value_b}


def _translations(
    conflict: Conflict, mapping: MappingSpec, values_a: list[Any], value_b: Any
) -> MappingSpec:
    """A reference mapping with the translations of these values, as a run would have them
    (a person deciding for A's record names it in A's terms, and B's in B's). Raises
    UpstreamError when a system cannot be asked about a person."""
    sync = conflict.sync
    connectors = {}
    if mapping.reference is not None and mapping.reference.people:
        connectors = {
            Side.A: SideConnector(Side.A, connector_for(sync.connection_a), sync.object_type_a),
            Side.B: SideConnector(Side.B, connector_for(sync.connection_b), sync.object_type_b),
        }
    try:
        references = References(sync, SyncSpec(mappings=(mapping,)), connectors)
        records = {
            Side.A: [Record("a", {mapping.field_a: v}) for v in values_a if v is not None],
            Side.B: [Record("b", {mapping.field_b: value_b})],
        }
        [filled] = references.spec_for(SyncSpec(mappings=(mapping,)), records).mappings
    except SideFailure as failure:
        raise upstream_error(failure.error) from failure
    finally:
        for side in connectors.values():
            side.connector.close()
    return filled


def _decide_one(conflict: Conflict, resolution: str, custom_value: Any, user: Any) -> None:
    conflict.refresh_from_db()
    if conflict.status != Conflict.Status.OPEN:
        raise conflict_not_open(conflict)
    if conflict.link.status != LinkStatus.LINKED:
        raise Refused("the two records are no longer linked", code="conflict_not_resolvable")
    values = _decided_values(conflict, resolution, custom_value)
    decided = Conflict.objects.filter(pk=conflict.pk, status=Conflict.Status.OPEN).update(
        status=Conflict.Status.DECIDED,
        resolution=resolution,
        custom_value=values["a"] if resolution == Conflict.Resolution.CUSTOM else None,
        decided_values=values,
        decided_by=user if getattr(user, "pk", None) else None,
        decided_at=timezone.now(),
        error="",
    )
    conflict.refresh_from_db()
    if not decided:  # decided or closed by someone else meanwhile
        raise conflict_not_open(conflict)


def conflicts_decide(
    conflicts: Sequence[Conflict], *, resolution: str, custom_value: Any = None, user: Any = None
) -> Decisions:
    """Decide each conflict the same way: A's value, B's value or a custom value (in A's
    terms, converted for B like any synced value). Each is checked on its own; one run per
    sync applies those decided.

    Refusals (by conflict): Refused `conflict_already_resolved` for one that is not open,
    `conflict_not_resolvable` when its records are no longer linked; Invalid (`value`) when
    the value cannot be converted for a side. Raises Invalid (`resolution`) for a
    resolution that is not a, b or custom.
    """
    if resolution not in CHOICES:
        raise Invalid(
            f"a resolution is 'a', 'b' or 'custom', not {resolution!r}", field="resolution"
        )
    result = Decisions()
    ids: dict[int, dict[str, list[str]]] = {}
    for conflict in conflicts:
        try:
            _decide_one(conflict, resolution, custom_value, user)
        except DomainError as exc:
            result.refused[conflict.pk] = exc
            continue
        result.decided.append(conflict)
        wanted = ids.setdefault(conflict.sync_id, {"a": [], "b": []})
        wanted["a"].append(conflict.link.a_id)
        wanted["b"].append(conflict.link.b_id)
    for sync in Sync.objects.filter(pk__in=ids):
        if sync.paused:
            result.runs[sync.pk] = None  # applied by its next run once it resumes
            continue
        result.runs[sync.pk] = sync_trigger(sync, trigger="resolution", record_ids=ids[sync.pk])
    return result


def conflict_decide(
    conflict: Conflict, *, resolution: str, custom_value: Any = None, user: Any = None
) -> RequestedRun | None:
    """Decide one conflict (see conflicts_decide); raises its refusal. Returns the run that
    applies it, queued (None while the sync is paused)."""
    result = conflicts_decide(
        [conflict], resolution=resolution, custom_value=custom_value, user=user
    )
    if conflict.pk in result.refused:
        raise result.refused[conflict.pk]
    conflict.refresh_from_db()
    return result.run_for(conflict)
