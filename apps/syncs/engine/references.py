"""Reference fields: a record's reference translated into the other system's terms.

A reference field holds the id of another record of the same system (a ticket's requester,
an organization) or names a person. Copied as it is, Zendesk user 123 would mean nothing
(or someone else) in Jira. A reference mapping (MappingSpec.reference) translates instead:

- Records: through the links of another sync of the workspace that joins the two object
  types the fields point to (the `via` sync): Zendesk organization 7 becomes the HubSpot
  company linked to it.
- People: through the people table of the two connections (PersonMapping), else by email:
  a user record's id is turned into its email (one get() of the system's user type per
  batch), and an email into the other system's user id where that side's field holds ids
  (one find() on "email" per batch). Where it holds emails or logins, the system is asked
  whether it has the person (connector.people_known), so that an unknown one waits
  instead of failing the record's write. All of it is remembered for the run.

Before each batch is planned, `References.spec_for` fills every reference mapping's value
maps with the translations of the values the batch holds, with a query or two per mapping
(never one per record). The planner then converts as with any value map; a value without a
translation raises Unresolved and the field waits: the record is written without it, a
WaitingReference row remembers it, and the run log shows it as waiting. At the start of
each run, `LinkStore.waiting_due` names the records whose wait is over (the referenced
record is linked now, or the people table changed): the run reads them again and the
field is written.

Creating through the via sync: where a records mapping says so (`create_referenced`), the
applier asks `References.creations` about each waiting reference before storing it. The
field still waits (no raw id is ever written), but the row is marked "wanted": once the run
ends, apps.runs asks the via sync for one targeted run of those referenced records
(`references_create_request`), which creates and links them by its own mappings and
filters; its links then bring the usual follow-up that writes the field. A value asked for
once is never asked for again ("asked"). One the via sync would not create (it is paused or
off, no mapping of it writes that way, its filters leave the record out, or the record is
gone) is "refused": the run log's waiting warning says why, and nothing is asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from apps.syncs.engine.filters import FilterSpec, Operator, first_failing
from apps.syncs.engine.plan_types import MappingSpec, SyncSpec, Waiting
from apps.syncs.engine.sides import SideConnector
from apps.syncs.engine.types import Direction, LinkStatus, Side
from apps.syncs.engine.values import is_empty, map_key
from apps.syncs.models import (
    FieldMapping,
    Filter,
    PersonMapping,
    RecordLink,
    Sync,
    WaitingReference,
)
from connectors.base import Record

# The field of a system's user records that holds the person's email.
EMAIL_FIELD = "email"


def _email(value: Any) -> str | None:
    text = str(value).strip().casefold()
    return text if "@" in text and " " not in text else None


class References:
    """Translates the reference mappings of one sync, for one run."""

    def __init__(self, sync: Sync, spec: SyncSpec, sides: Mapping[Side, SideConnector]) -> None:
        self.sync = sync
        self.sides = sides
        self.mappings = [m for m in spec.mappings if m.reference is not None]
        self._table: dict[Side, dict[str, str]] | None = None
        # Per side: a user record's id -> its email (None: it has none), and back.
        self._email_of: dict[Side, dict[str, str | None]] = {Side.A: {}, Side.B: {}}
        self._id_of: dict[Side, dict[str, str | None]] = {Side.A: {}, Side.B: {}}
        # Per side: whether the system has a person (an email or login of a user field).
        self._known: dict[Side, dict[str, bool]] = {Side.A: {}, Side.B: {}}
        # Per (via sync id, its side holding the value, value): why that sync would not
        # create the record (None: it would), decided once per run.
        self._creatable: dict[tuple[Any, Side, str], str | None] = {}
        self._vias: dict[tuple[Any, Side], _Via] = {}

    def spec_for(self, spec: SyncSpec, records: Mapping[Side, Iterable[Record]]) -> SyncSpec:
        """`spec` with every reference mapping's value maps holding the translations of the
        values `records` (by side) hold."""
        if not self.mappings:
            return spec
        held = {side: list(records.get(side, ())) for side in Side}
        filled: dict[str, MappingSpec] = {}
        for mapping in self.mappings:
            values = {side: self._values(mapping, side, held[side]) for side in Side}
            reference = mapping.reference
            if reference.people:
                maps = self._people(mapping, values)
                emails = {
                    value: email
                    for side in Side
                    for value in values[side]
                    if (email := self._email_of[side].get(value))
                }
                reference = replace(reference, emails=emails)
            else:
                maps = self._records(mapping, values)
            filled[mapping.id] = replace(
                mapping, map_a_to_b=maps[Side.B], map_b_to_a=maps[Side.A], reference=reference
            )
        return replace(spec, mappings=tuple(filled.get(m.id, m) for m in spec.mappings))

    @staticmethod
    def _values(mapping: MappingSpec, side: Side, records: list[Record]) -> set[str]:
        name = mapping.field(side)
        return {
            map_key(value)
            for record in records
            if not is_empty(value := record.fields.get(name)) and not isinstance(value, list)
        }

    # --- creating through the via sync ---
    def creations(self, waiting: list[Waiting]) -> list[Waiting]:
        """`waiting` with, for each reference of a mapping that creates what it names
        through its via sync, where asking that sync stands (Waiting.create): "wanted" (to
        be asked once the run ends), "asked" (asked already for this value: never twice),
        or "refused" (the message says why). At most one get() of the referenced records
        per mapping and side, and only where the via sync has filters to check."""
        creating = {
            m.id: m
            for m in self.mappings
            if m.reference is not None and m.reference.create and not m.reference.people
        }
        todo = [w for w in waiting if w.mapping_id in creating and w.code == "reference_unlinked"]
        if not todo:
            return waiting
        asked = set(
            WaitingReference.objects.filter(
                sync=self.sync,
                create="asked",
                record_id__in=sorted({w.record_id for w in todo}),
            ).values_list("mapping_id", "side", "record_id", "value")
        )
        wanted: dict[tuple[str, Side], set[str]] = {}
        for w in todo:
            if (int(w.mapping_id), w.side.value, w.record_id, str(w.value)) not in asked:
                wanted.setdefault((w.mapping_id, w.side), set()).add(str(w.value))
        for (mapping_id, side), values in wanted.items():
            self._check(creating[mapping_id], side, values)
        out: list[Waiting] = []
        for w in waiting:
            mapping = creating.get(w.mapping_id)
            if mapping is None or w.code != "reference_unlinked":
                out.append(w)
                continue
            via = self._via(mapping, w.side)
            name = via.sync.name
            if (int(w.mapping_id), w.side.value, w.record_id, str(w.value)) in asked:
                state, note = "asked", f"the sync {name!r} was asked to create it"
            elif (why := self._creatable[(via.sync.pk, via.side, str(w.value))]) is None:
                state, note = "wanted", f"the sync {name!r} is asked to create it"
            else:
                state, note = "refused", f"it is not created through its sync: {why}"
            out.append(replace(w, create=state, message=f"{w.message} ({note})"))
        return out

    def _via(self, mapping: MappingSpec, side: Side) -> _Via:
        """The via sync of `mapping`, seen from its side holding `side`'s values."""
        reference = mapping.reference
        assert reference is not None
        via_side = side.other if reference.flipped else side
        key = (reference.via, via_side)
        if key not in self._vias:
            self._vias[key] = _Via(Sync.objects.get(pk=reference.via), via_side)
        return self._vias[key]

    def _check(self, mapping: MappingSpec, side: Side, values: set[str]) -> None:
        """Decide, for the values not decided yet this run, whether the via sync would
        create the records they name (reading them where its filters need their fields)."""
        via = self._via(mapping, side)
        todo = sorted(v for v in values if (via.sync.pk, via.side, v) not in self._creatable)
        if not todo:
            return
        reason = via.reason()
        found: dict[str, Record] = {}
        if reason is None and via.filters:
            reader = SideConnector(side, self.sides[side].connector, via.object_type)
            found = {r.id: r for r in reader.get(todo)}
        for value in todo:
            why = reason
            if why is None and via.filters:
                record = found.get(value)
                if record is None or record.deleted:
                    why = f"the record is not found on {side.label}"
                elif (failing := first_failing(via.filters, record.fields)) is not None:
                    why = f"the filter of the sync {via.sync.name!r} ({failing.describe()}) "
                    why += "leaves it out"
            self._creatable[(via.sync.pk, via.side, value)] = why

    # --- records ---
    def _records(self, mapping: MappingSpec, values: dict[Side, set[str]]) -> dict[Side, dict]:
        """Per target side: {source value: the linked record's id on the target}."""
        reference = mapping.reference
        assert reference is not None
        maps: dict[Side, dict[str, Any]] = {Side.A: {}, Side.B: {}}
        for source in Side:
            if not values[source]:
                continue
            column = via_column(source, flipped=reference.flipped)
            other = "b_id" if column == "a_id" else "a_id"
            rows = RecordLink.objects.filter(
                sync_id=reference.via,
                status=LinkStatus.LINKED,
                **{f"{column}__in": sorted(values[source])},
            ).values_list(column, other)
            maps[source.other] = dict(rows)
        return maps

    # --- people ---
    def _people(self, mapping: MappingSpec, values: dict[Side, set[str]]) -> dict[Side, dict]:
        """Per target side: {source value: the same person in the target field's terms}."""
        reference = mapping.reference
        assert reference is not None
        maps: dict[Side, dict[str, Any]] = {Side.A: {}, Side.B: {}}
        table = self._people_table()
        for source in Side:
            target = source.other
            if not values[source]:
                continue
            users_source, users_target = reference.users(source), reference.users(target)
            if users_source:
                self._emails_known(source, users_source, values[source])
            wanted: dict[str, str] = {}  # source value -> target identity (email or id)
            for value in values[source]:
                email = self._email_of[source].get(value) if users_source else _email(value)
                entry = table[source].get(value.casefold())
                if entry is None and email is not None:
                    entry = table[source].get(email)
                if entry is not None:
                    wanted[value] = entry
                elif email is not None:
                    wanted[value] = email
            if users_target:
                emails = {w for w in wanted.values() if _email(w)}
                self._ids_known(target, users_target, emails)
                for value, identity in wanted.items():
                    found = (
                        self._id_of[target].get(identity.casefold())
                        if _email(identity)
                        else identity
                    )
                    if found is not None:
                        maps[target][value] = found
            else:
                known = self._people_known(target, wanted.values())
                maps[target] = {v: who for v, who in wanted.items() if known.get(who, True)}
        return maps

    def _people_known(self, side: Side, values: Iterable[str]) -> dict[str, bool]:
        """Whether `side`'s system has each of these people, asking it about those not
        asked yet this run (connector.people_known; a system that cannot tell has all)."""
        unknown = sorted({v for v in values if v not in self._known[side]})
        if unknown:
            found = self.sides[side].people_known(unknown)
            for value in unknown:
                self._known[side][value] = found is None or value in found
        return self._known[side]

    def _people_table(self) -> dict[Side, dict[str, str]]:
        """The people table of the sync's two connections, both ways: per source side,
        {value on that side (case-folded): value on the other side}."""
        if self._table is not None:
            return self._table
        a_id, b_id = self.sync.connection_a_id, self.sync.connection_b_id
        table: dict[Side, dict[str, str]] = {Side.A: {}, Side.B: {}}
        if a_id != b_id:
            low, high = sorted((a_id, b_id))
            rows = PersonMapping.objects.filter(connection_a_id=low, connection_b_id=high)
            for row in rows.values_list("value_a", "value_b"):
                on_a, on_b = row if low == a_id else (row[1], row[0])
                table[Side.A][on_a.strip().casefold()] = on_b.strip()
                table[Side.B][on_b.strip().casefold()] = on_a.strip()
        self._table = table
        return table

    def _emails_known(self, side: Side, users: str, ids: Iterable[str]) -> None:
        """Read the emails of the user records `ids` of `side` not known yet (one get())."""
        unknown = [i for i in ids if i not in self._email_of[side]]
        if not unknown:
            return
        found = SideConnector(side, self.sides[side].connector, users).get(unknown)
        for record in found:
            self._email_of[side][record.id] = _email(record.fields.get(EMAIL_FIELD) or "")
        for user_id in unknown:
            self._email_of[side].setdefault(user_id, None)

    def _ids_known(self, side: Side, users: str, emails: Iterable[str]) -> None:
        """Find the user records of `side` with these emails not known yet (one find())."""
        unknown = sorted(e.casefold() for e in emails if e.casefold() not in self._id_of[side])
        if not unknown:
            return
        found = SideConnector(side, self.sides[side].connector, users).find(EMAIL_FIELD, unknown)
        by_email: dict[str, list[str]] = {}
        for record in found:
            email = _email(record.fields.get(EMAIL_FIELD) or "")
            if email is not None:
                by_email.setdefault(email, []).append(record.id)
        for email in unknown:
            ids = by_email.get(email, [])
            # Two users with one email: which one is meant is unknown, so neither is used.
            self._id_of[side][email] = ids[0] if len(ids) == 1 else None


class _Via:
    """What decides whether a via sync would create a record of one of its sides."""

    def __init__(self, sync: Sync, side: Side) -> None:
        self.sync = sync
        self.side = side
        target = side.other
        ways = [Direction.BOTH, Direction.A_TO_B if target is Side.B else Direction.B_TO_A]
        self.writes = FieldMapping.objects.filter(sync=sync, direction__in=ways).exists()
        self.filters = [
            FilterSpec(row.field, Operator(row.operator), row.value)
            for row in Filter.objects.filter(sync=sync, side=side.value).order_by("id")
        ]
        self.object_type = sync.object_type_a if side is Side.A else sync.object_type_b

    def reason(self) -> str | None:
        """Why the sync would create no record of this side at all (None: it may)."""
        name, target = self.sync.name, self.side.other
        if not self.sync.enabled:
            return f"the sync {name!r} is off"
        if self.sync.paused:
            return f"the sync {name!r} is paused"
        if not self.writes:
            return (
                f"no field mapping of the sync {name!r} writes to {target.label}, "
                "so it creates nothing there"
            )
        return None


def via_column(source: Side, *, flipped: bool) -> str:
    """The RecordLink column of the via sync holding ids of `source`'s system."""
    via_side = source.other if flipped else source
    return "a_id" if via_side is Side.A else "b_id"
