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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from apps.syncs.engine.plan_types import MappingSpec, SyncSpec
from apps.syncs.engine.sides import SideConnector
from apps.syncs.engine.types import LinkStatus, Side
from apps.syncs.engine.values import is_empty, map_key
from apps.syncs.models import PersonMapping, RecordLink, Sync
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


def via_column(source: Side, *, flipped: bool) -> str:
    """The RecordLink column of the via sync holding ids of `source`'s system."""
    via_side = source.other if flipped else source
    return "a_id" if via_side is Side.A else "b_id"
