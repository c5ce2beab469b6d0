"""Planning one batch of a side's records: what the planner needs is read, then it decides.

Per batch: records whose mapped values equal the base (our own echoes, edits of unmapped
fields) are dropped without any call. For the rest, the partners of linked records are
fetched with one get(); unlinked records in scope are looked up on the other side, and the
candidates' own rivals on this side; the links and open conflicts of all of them are read
from the store. The planner gets that and decides (the planner's input contract, in plan.py).

Match lookups cost no call for a side the run has listed in full (a first or full run): its
`MatchIndex`, built from that listing, answers them. Otherwise one batched find() on the
match rule's first pair asks the system (the connector packs the values into as few
requests as its API allows).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apps.syncs.engine.filters import in_scope
from apps.syncs.engine.merge import is_echo
from apps.syncs.engine.plan import dedupe, plan
from apps.syncs.engine.plan_types import LinkState, Plan, PlanInput, SyncSpec
from apps.syncs.engine.references import References
from apps.syncs.engine.sides import SideConnector
from apps.syncs.engine.store import LinkStore, Node
from apps.syncs.engine.types import ACTIVE_STATUSES, LinkStatus, Side
from apps.syncs.engine.values import match_key
from connectors.base import Cursor, Record

# A page of one side's records, and the cursor to store once it is applied (None: a
# batch fetched by id, which moves no cursor).
Batch = tuple[Side, list[Record], Cursor | None]


class MatchIndex:
    """One side's records by match key, built from a full listing of that side.

    The key is the tuple of every match-rule pair's normalised value (what the planner
    compares); records with an empty key part or deleted are left out, as a find() would
    not return them. Records the run creates on this side are added, so that a later
    record with the same key finds them instead of creating a second one.
    """

    def __init__(self, spec: SyncSpec, side: Side) -> None:
        self.spec = spec
        self.side = side
        self._by_key: dict[tuple[Any, ...], dict[str, Record]] = {}
        self._key_of: dict[str, tuple[Any, ...]] = {}

    def __len__(self) -> int:
        return len(self._key_of)

    def key(self, record: Record, side: Side | None = None) -> tuple[Any, ...] | None:
        """The match key of a record of `side` (this index's side by default)."""
        side = side or self.side
        key = tuple(
            match_key(record.fields.get(pair.field(side)), pair.normalise)
            for pair in self.spec.match_rule
        )
        return None if any(part is None for part in key) else key

    def add(self, record: Record) -> None:
        """Index (or re-index) `record`; a deleted record leaves the index."""
        old = self._key_of.pop(record.id, None)
        if old is not None:
            self._by_key[old].pop(record.id, None)
        key = None if record.deleted else self.key(record)
        if key is not None:
            self._by_key.setdefault(key, {})[record.id] = record
            self._key_of[record.id] = key

    def lookup(self, keys: Iterable[tuple[Any, ...] | None]) -> list[Record]:
        """The indexed records with any of these keys, each once."""
        found: dict[str, Record] = {}
        for key in keys:
            if key is not None:
                found.update(self._by_key.get(key, {}))
        return list(found.values())


class BatchPlanner:
    """Reads what a batch needs from the store and the connectors, and plans it.

    `indexes` holds a MatchIndex per side the run has listed in full: lookups on that side
    are answered from it instead of a find().
    """

    def __init__(
        self,
        spec: SyncSpec,
        store: LinkStore,
        sides: Mapping[Side, SideConnector],
        references: References | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.sides = sides
        # Translates the reference mappings' values of each batch (None: the sync has none).
        self.references = references
        # Links with a person's decision to write: their records are planned even when they
        # look like echoes, so the decision is applied.
        self.decided_links: set[Any] = set()
        self.indexes: dict[Side, MatchIndex] = {}
        # Per batch: its records whose entity another sync deleted (PlanInput).
        self.deleted_elsewhere: set[tuple[Side, str]] = set()

    def plan(
        self,
        side: Side,
        records: list[Record],
        counters: Counter[str],
        overlay: DryOverlay | None = None,
    ) -> tuple[Plan, dict[Any, LinkState]]:
        """The plan of a batch of `side`'s records, and the links it read, by key.

        Counts the records read and the echoes dropped in `counters`. A dry pass passes its
        overlay, so that pairs earlier pages would have linked are not planned twice.
        """
        records = dedupe(records)
        counters[f"read_{side}"] += len(records)
        other = side.other
        links = self.store.links_for(side, [r.id for r in records])
        if overlay is not None:
            links += overlay.virtual_links(side, [r.id for r in records])
        active = {link.id(side): link for link in reversed(links) if link.status in ACTIVE_STATUSES}
        changed: list[Record] = []
        for record in records:
            link = active.get(record.id)
            if overlay is not None and link is not None and overlay.planned(link):
                continue
            decided = link is not None and link.key in self.decided_links
            if not decided and is_echo(self.spec, side, record, link):
                counters[f"unchanged_{side}"] += 1
                continue
            changed.append(record)
        by_key: dict[Any, LinkState] = {link.key: link for link in links}
        if not changed:
            return Plan(), by_key
        partner_ids = [
            pid
            for r in changed
            if (link := active.get(r.id)) is not None
            and link.status is LinkStatus.LINKED
            and (pid := link.id(other)) is not None
        ]
        others: dict[str, Record] = {}
        if partner_ids:
            for record in self.sides[other].get(partner_ids):
                others[record.id] = record
        unlinked = [
            r
            for r in changed
            if r.id not in active and not r.deleted and in_scope(self.spec.filters(side), r.fields)
        ]
        self.deleted_elsewhere = set()
        elsewhere, entities, joined, joined_links = self._joined_elsewhere(side, unlinked, others)
        found, own, candidate_links = self._match_candidates(side, unlinked, records, overlay)
        for record in [*joined, *found]:
            others.setdefault(record.id, record)
        if found and entities:
            # The candidates' own entities: a candidate another sync joins to a different
            # record of some system is not free for these records.
            more, more_entities = self._elsewhere(other, [r.id for r in found])
            elsewhere.update(more)
            entities.update(more_entities)
        all_links = links + joined_links + candidate_links
        for link in candidate_links:
            by_key.setdefault(link.key, link)
        spec = self.spec
        if self.references is not None:
            spec = self.references.spec_for(
                spec, {side: [*changed, *own.values()], other: list(others.values())}
            )
        inp = PlanInput(
            changed_a=changed if side is Side.A else (),
            changed_b=changed if side is Side.B else (),
            records_a=others if other is Side.A else own,
            records_b=others if other is Side.B else own,
            links=all_links,
            conflicts=self.store.open_conflicts(
                link.key for link in all_links if not isinstance(link.key, tuple)
            ),
            elsewhere=elsewhere,
            entities=entities,
            deleted_elsewhere=frozenset(self.deleted_elsewhere),
        )
        return plan(spec, inp), by_key

    def _joined_elsewhere(
        self, side: Side, unlinked: list[Record], known: Mapping[str, Record]
    ) -> tuple[
        dict[tuple[Side, str], frozenset[str]],
        dict[tuple[Side, str], frozenset[Node]],
        list[Record],
        list[LinkState],
    ]:
        """Three systems: what the workspace's other syncs already join `side`'s unlinked
        records to (PlanInput.elsewhere and .entities), the other side's records among
        them (one get() for those not at hand), and their links in this sync. Nothing
        (and no query but one for the workspace's syncs) when the sync is alone."""
        if not unlinked or not self.store.has_other_syncs():
            return {}, {}, [], []
        other = side.other
        elsewhere, entities = self._elsewhere(side, [r.id for r in unlinked])
        counterparts = sorted({i for ids in elsewhere.values() for i in ids})
        wanted = [i for i in counterparts if i not in known]
        joined = list(self.sides[other].get(wanted)) if wanted else []
        return elsewhere, entities, joined, self.store.links_for(other, counterparts)

    def _elsewhere(
        self, side: Side, ids: list[str]
    ) -> tuple[dict[tuple[Side, str], frozenset[str]], dict[tuple[Side, str], frozenset[Node]]]:
        target = self.store.endpoint(side.other)
        elsewhere: dict[tuple[Side, str], frozenset[str]] = {}
        entities: dict[tuple[Side, str], frozenset[Node]] = {}
        reached, gone = self.store.joined_elsewhere(side, ids)
        self.deleted_elsewhere.update((side, record_id) for record_id in gone)
        for record_id, nodes in reached.items():
            # The entity is what linked pairs join; a pair since unlinked still names the
            # counterpart when no linked path does (the survivors of an unlink-on-delete).
            entities[(side, record_id)] = frozenset(n for n, firm in nodes.items() if firm)
            at_target = [(i, firm) for (endpoint, i), firm in nodes.items() if endpoint == target]
            partners = frozenset(i for i, firm in at_target if firm) or frozenset(
                i for i, _ in at_target
            )
            if partners:
                elsewhere[(side, record_id)] = partners
        return elsewhere, entities

    def _match_candidates(
        self,
        side: Side,
        unlinked: list[Record],
        batch: list[Record],
        overlay: DryOverlay | None,
    ) -> tuple[list[Record], dict[str, Record], list[LinkState]]:
        """What the match rule needs for `side`'s unlinked records: the candidates on the
        other side, the records of this side outside `batch` that also match a candidate
        (the reverse question), and the links of both. A side with an index answers from it;
        otherwise one find() on the rule's first pair asks its system."""
        if not unlinked or not self.spec.match_rule:
            return [], {}, []
        other = side.other
        found = self._lookup(other, side, unlinked)
        known = {r.id for r in batch}
        own: dict[str, Record] = {}
        for record in self._lookup(side, other, found):
            if record.id not in known:
                own[record.id] = record
        links = self.store.links_for(other, [r.id for r in found])
        links += self.store.links_for(side, list(own))
        if overlay is not None:
            links += overlay.virtual_links(other, [r.id for r in found])
            links += overlay.virtual_links(side, list(own))
        return found, own, links

    def _lookup(self, target: Side, source: Side, records: list[Record]) -> list[Record]:
        """The records of `target` that may match any of `records` (of `source`)."""
        if not records:
            return []
        index = self.indexes.get(target)
        if index is not None:
            return index.lookup(index.key(r, source) for r in records)
        pair = self.spec.match_rule[0]
        values = list(
            dict.fromkeys(
                r.fields[pair.field(source)]
                for r in records
                if match_key(r.fields.get(pair.field(source)), pair.normalise) is not None
            )
        )
        if not values:
            return []
        return self.sides[target].find(pair.field(target), values)


class DryOverlay:
    """In a dry pass nothing is stored, so what earlier pages would have linked is kept
    here, lest the other side's pages count the same pairs again."""

    def __init__(self) -> None:
        self.links_seen: set[Any] = set()
        self.claimed: dict[Side, dict[str, str | None]] = {Side.A: {}, Side.B: {}}

    def virtual_links(self, side: Side, ids: Sequence[str]) -> list[LinkState]:
        out = []
        for record_id in ids:
            if record_id in self.claimed[side]:
                partner = self.claimed[side][record_id]
                a_id, b_id = (record_id, partner) if side is Side.A else (partner, record_id)
                out.append(LinkState(("virtual", side, record_id), a_id, b_id))
        return out

    def planned(self, link: LinkState) -> bool:
        """Whether an earlier page of the pass already planned this pair."""
        return link.key in self.links_seen or isinstance(link.key, tuple)

    def absorb(self, result: Plan) -> None:
        for pair in result.pairs:
            if pair.link_key is not None:
                self.links_seen.add(pair.link_key)
            else:
                self.claimed[Side.A][pair.a_id] = pair.b_id
                self.claimed[Side.B][pair.b_id] = pair.a_id
        for create in result.creates:
            self.claimed[create.side.other][create.source_id] = None
        for unlink in result.unlinks:
            self.links_seen.add(unlink.link_key)
        for delete in result.deletes:
            self.links_seen.add(delete.link_key)
