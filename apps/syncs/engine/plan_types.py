"""The planner's data: what it is given and what it returns. Plain dataclasses, no I/O.

In: the sync's rules (`SyncSpec`, one `MappingSpec` per field mapping, the match rule), the
links of the records in a batch (`LinkState`, with the base of each pair), the open conflicts
and the changed records (`PlanInput`). Out: a `Plan`, everything the batch calls for, which
the runner applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.syncs.engine.filters import FilterSpec
from apps.syncs.engine.types import (
    ConflictChoice,
    ConflictPolicy,
    DeletePolicy,
    Direction,
    InitialPolicy,
    LinkStatus,
    Side,
)
from apps.syncs.engine.values import (
    ConversionError,
    Kind,
    Normalise,
    Unresolved,
    convert,
    equivalent,
    is_empty,
    map_key,
)
from connectors.base import Record


# --- what the planner is given ---------------------------------------------------------------
@dataclass(frozen=True)
class ReferenceSpec:
    """How a reference mapping translates its values (apps/syncs/engine/references.py).

    Records (`via` set): each side's field holds the id of a record of another object type,
    and the sync `via` links those records; a value is translated through its links.
    `flipped`: the via sync's side A is this sync's side B.

    People (`via` None): each side's field names a person, as an email (or login) or, where
    `users_a`/`users_b` names the system's user object type, as the id of a user record.
    A value is translated through the people table of the two connections, else by email.
    """

    via: Any = None
    flipped: bool = False
    # Records: ask the via sync to create (and link) a referenced record not linked yet.
    create: bool = False
    users_a: str | None = None
    users_b: str | None = None
    # For people, filled in per batch: the email of a user id where one is known (for the
    # run log to name the person rather than an id).
    emails: Mapping[str, str] | None = None

    @property
    def people(self) -> bool:
        return self.via is None

    def users(self, side: Side) -> str | None:
        return self.users_a if side is Side.A else self.users_b


@dataclass(frozen=True)
class MappingSpec:
    """One field mapping as the planner sees it. `id` keys the base and conflicts."""

    id: str
    field_a: str
    field_b: str
    direction: Direction = Direction.BOTH
    kind_a: Kind = Kind.TEXT
    kind_b: Kind = Kind.TEXT
    options_a: tuple[str, ...] = ()
    options_b: tuple[str, ...] = ()
    map_a_to_b: Mapping[str, Any] | None = None
    map_b_to_a: Mapping[str, Any] | None = None
    default_a: Any = None
    default_b: Any = None
    # Set for a reference mapping: its value maps are the translations known for the values
    # of a batch, filled in before each batch is planned; a value without one is Unresolved.
    reference: ReferenceSpec | None = None

    def field(self, side: Side) -> str:
        return self.field_a if side is Side.A else self.field_b

    def kind(self, side: Side) -> Kind:
        return self.kind_a if side is Side.A else self.kind_b

    def writes_to(self, side: Side) -> bool:
        if self.direction is Direction.BOTH:
            return True
        return (self.direction is Direction.A_TO_B) == (side is Side.B)

    def convert_to(self, target: Side, value: Any) -> Any:
        """The other side's value converted for `target`. Raises ConversionError, and for a
        reference whose counterpart is not known, Unresolved."""
        if self.reference is not None:
            return self._translate(target, value)
        if target is Side.B:
            return convert(
                value,
                self.kind_a,
                self.kind_b,
                value_map=self.map_a_to_b,
                options=self.options_b,
                default=self.default_b,
            )
        return convert(
            value,
            self.kind_b,
            self.kind_a,
            value_map=self.map_b_to_a,
            options=self.options_a,
            default=self.default_a,
        )

    def _translate(self, target: Side, value: Any) -> Any:
        if is_empty(value):
            return self.default_b if target is Side.B else self.default_a
        known = (self.map_a_to_b if target is Side.B else self.map_b_to_a) or {}
        key = map_key(value)
        if key in known:
            return known[key]
        assert self.reference is not None
        source = target.other
        if self.reference.people:
            email = (self.reference.emails or {}).get(key)
            who = f"{value!r} ({email})" if email and email != key else repr(value)
            raise Unresolved(
                f"the person {who} on {source.label} has no counterpart on {target.label}: "
                "no user there with that email, and no entry in the people table",
                value,
                code="unknown_user",
            )
        raise Unresolved(
            f"the record {value!r} it refers to on {source.label} is not linked to a "
            f"record on {target.label} yet; the field is written once it is",
            value,
            code="reference_unlinked",
        )

    def same(self, side: Side, left: Any, right: Any) -> bool:
        return equivalent(left, right, self.kind(side))

    def agree(self, value_a: Any, value_b: Any) -> bool:
        """Whether the two sides hold equivalent values (compared on the written side)."""
        for target in (Side.B, Side.A) if self.writes_to(Side.B) else (Side.A,):
            source_value, target_value = (
                (value_a, value_b) if target is Side.B else (value_b, value_a)
            )
            try:
                converted = self.convert_to(target, source_value)
            except ConversionError:
                continue
            return self.same(target, converted, target_value)
        return False


@dataclass(frozen=True)
class MatchPair:
    field_a: str
    field_b: str
    normalise: Normalise = Normalise.EMAIL

    def field(self, side: Side) -> str:
        return self.field_a if side is Side.A else self.field_b


@dataclass(frozen=True)
class SyncSpec:
    mappings: tuple[MappingSpec, ...]
    filters_a: tuple[FilterSpec, ...] = ()
    filters_b: tuple[FilterSpec, ...] = ()
    match_rule: tuple[MatchPair, ...] = ()
    conflict_policy: ConflictPolicy = ConflictPolicy.MANUAL
    initial_policy: InitialPolicy = InitialPolicy.CONFLICT
    delete_policy: DeletePolicy = DeletePolicy.UNLINK

    def filters(self, side: Side) -> tuple[FilterSpec, ...]:
        return self.filters_a if side is Side.A else self.filters_b


@dataclass
class LinkState:
    """A RecordLink as the planner sees it. `base` maps mapping id -> {"a": v, "b": v}."""

    key: Any
    a_id: str | None
    b_id: str | None
    status: LinkStatus = LinkStatus.LINKED
    base: dict[str, dict[str, Any]] = field(default_factory=dict)
    a_version: str | None = None
    b_version: str | None = None
    a_modified_at: datetime | None = None
    b_modified_at: datetime | None = None

    def id(self, side: Side) -> str | None:
        return self.a_id if side is Side.A else self.b_id

    def version(self, side: Side) -> tuple[datetime | None, str | None]:
        if side is Side.A:
            return self.a_modified_at, self.a_version
        return self.b_modified_at, self.b_version


@dataclass(frozen=True)
class OpenConflict:
    """A conflict still open on a field of a link, with the values it was opened (or last
    refreshed) with. `decided` is a person's decision waiting to be written: the value each
    side is to hold, {"a": v, "b": v}, chosen as `resolution` ("a", "b" or "custom")."""

    key: Any
    link_key: Any
    mapping_id: str
    value_a: Any
    value_b: Any
    decided: Mapping[str, Any] | None = None
    resolution: str = ""


@dataclass
class PlanInput:
    changed_a: Sequence[Record] = ()
    changed_b: Sequence[Record] = ()
    records_a: Mapping[str, Record] = field(default_factory=dict)
    records_b: Mapping[str, Record] = field(default_factory=dict)
    links: Sequence[LinkState] = ()
    conflicts: Sequence[OpenConflict] = ()
    # Three systems (the workspace's other syncs), for unlinked records and candidates:
    # (side, record id) -> ids of the other side's records those syncs already join to it
    # (its counterpart, whatever the match rule says), and -> every record they join to
    # it, as opaque (system, id) pairs, itself included (two records whose sets hold two
    # different ids of one system are two entities and are never linked).
    elsewhere: Mapping[tuple[Side, str], Set[str]] = field(default_factory=dict)
    entities: Mapping[tuple[Side, str], Set[tuple[Any, str]]] = field(default_factory=dict)
    # Unlinked records whose entity lost a record to a delete another sync propagated or
    # keeps as a tombstone: never the source of a create.
    deleted_elsewhere: Set[tuple[Side, str]] = frozenset()


# --- what it returns: the plan ---------------------------------------------------------------
@dataclass(frozen=True)
class FieldChange:
    mapping_id: str
    field: str
    before: Any
    after: Any
    decision: str = ""  # the resolution, when the change writes a person's decision


@dataclass
class Write:
    """An update of one record on `side`: field-level diffs."""

    side: Side
    record_id: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, Any]:
        return {c.field: c.after for c in self.changes}


@dataclass
class PairPlan:
    """What happens to one linked (or newly matched) pair."""

    link_key: Any | None  # None: a new link made by matching
    a_id: str
    b_id: str
    trigger: Side
    matched: bool = False
    write_a: Write | None = None
    write_b: Write | None = None
    settle: set[str] = field(default_factory=set)  # mapping ids whose base is set afterwards
    record_a: Record | None = None
    record_b: Record | None = None

    def write(self, side: Side) -> Write | None:
        return self.write_a if side is Side.A else self.write_b

    def record(self, side: Side) -> Record | None:
        return self.record_a if side is Side.A else self.record_b


@dataclass
class Create:
    """Create on `side` the counterpart of `source` (a record of the other side).
    `waiting`: the reference mappings left out because their value has no counterpart yet."""

    side: Side
    source: Record
    fields: dict[str, Any]
    waiting: tuple[str, ...] = ()

    @property
    def source_id(self) -> str:
        return self.source.id


@dataclass
class Delete:
    side: Side
    record_id: str
    link_key: Any
    reason: str
    other_id: str | None = None  # the record whose deletion this follows


@dataclass
class Unlink:
    link_key: Any
    a_id: str | None
    b_id: str | None
    status: LinkStatus  # UNLINKED (scope, delete policy unlink) or DELETED
    reason: str
    trigger: Side
    record_a: Record | None = None  # the records as seen when unlinking (for versions)
    record_b: Record | None = None


@dataclass
class ConflictDecision:
    """Both sides changed one field differently, and how that is decided."""

    link_key: Any | None
    a_id: str
    b_id: str
    mapping_id: str
    base: dict[str, Any] | None
    value_a: Any
    value_b: Any
    decision: ConflictChoice
    reason: str
    trigger: Side
    existing_key: Any | None = None  # an open conflict whose values are refreshed
    # The refreshed conflict carried a decision that a later edit made stale: it is open
    # again, for the person to decide on the new values.
    voids_decision: bool = False

    @property
    def losing_side(self) -> Side | None:
        return self.decision.loser

    @property
    def losing_value(self) -> Any:
        side = self.losing_side
        if side is None:
            return None
        return self.value_a if side is Side.A else self.value_b


@dataclass
class Converged:
    """An open conflict whose two sides now hold equivalent values."""

    conflict_key: Any
    link_key: Any
    mapping_id: str
    value_a: Any
    value_b: Any


@dataclass
class DecisionApplied:
    """A person's decision on a conflict, written by this plan where a side lacked it. The
    conflict closes once those writes are stored, or reopens with a refusal."""

    conflict_key: Any
    link_key: Any
    mapping_id: str
    before: Mapping[str, Any] = field(default_factory=dict)  # {"a": v, "b": v} as found
    after: Mapping[str, Any] = field(default_factory=dict)  # {"a": v, "b": v} as decided
    resolution: str = ""


@dataclass
class Skip:
    side: Side
    record_id: str
    code: str  # stale, pending, ambiguous, already_linked, match_out_of_scope, tombstone, ...
    reason: str
    candidates: tuple[str, ...] = ()


@dataclass
class RecordIssue:
    """A per-record error: names the record, the field and the value."""

    side: Side
    record_id: str
    field: str
    value: Any
    message: str
    other_id: str | None = None


@dataclass(frozen=True)
class Waiting:
    """A reference field of a record of `side` not written to the other side: the value it
    names has no counterpart there yet (`code`: "reference_unlinked" or "unknown_user")."""

    side: Side
    record_id: str
    mapping_id: str
    field: str
    value: Any
    code: str
    message: str
    other_id: str | None = None
    # Asking the via sync to create the record it names (WaitingReference.create).
    create: str = ""


@dataclass
class Plan:
    pairs: list[PairPlan] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    unlinks: list[Unlink] = field(default_factory=list)
    conflicts: list[ConflictDecision] = field(default_factory=list)
    converged: list[Converged] = field(default_factory=list)
    decisions: list[DecisionApplied] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    errors: list[RecordIssue] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    unchanged: Counter[Side] = field(default_factory=Counter)

    def updates(self, side: Side) -> list[Write]:
        return [w for p in self.pairs if (w := p.write(side)) is not None]

    def creates_on(self, side: Side) -> list[Create]:
        return [c for c in self.creates if c.side is side]

    def deletes_on(self, side: Side) -> list[Delete]:
        return [d for d in self.deletes if d.side is side]

    @property
    def matched(self) -> list[PairPlan]:
        return [p for p in self.pairs if p.matched]

    def change_count(self) -> int:
        """Records this plan would change or delete on existing links (the safety limit)."""
        return len(self.updates(Side.A)) + len(self.updates(Side.B)) + len(self.deletes)

    def is_empty(self) -> bool:
        return not (
            self.pairs or self.creates or self.deletes or self.unlinks or self.conflicts
        ) and not (self.converged or self.skips or self.errors or self.waiting)
