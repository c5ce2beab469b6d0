"""Property tests: random interleavings of edits on two systems, runs, crashes and faulty
feeds; then the five properties of the engine (issue 4).

Each example builds a fresh sync between two memory stores inside a transaction that is
rolled back afterwards. The operations are user edits on either side (create, edit, delete),
runs, runs that crash before or after the n-th write on either side (retried at once, as a
redelivered task is), and switching on duplicated/overlapping/reordered change feeds. Then
the edits stop, faults are cleared, two more runs happen, and:

1. every linked pair agrees on every mapped field, except fields with an open conflict;
2. every user edit reached the other side (some partner held the value at or after it), or
   was overwritten by a later edit on its own side, or is kept as a conflict's value
   (the losing value of a decision, or one side of an open conflict); nothing else;
3. no record is linked twice, and every record the engine created belongs to exactly one
   link whose source has no other engine-made counterpart (no crash made a duplicate);
4. a run with no new changes makes no writes;
5. running the same run twice (its cursors put back, its changes delivered again) changes
   nothing the second time: checked during the sequence and on the last run with changes.

The default profile runs at least 500 examples; `make fuzz` (profile "fuzz") many more.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from apps.syncs.engine.store import mapping_spec
from apps.syncs.engine.types import LinkStatus
from apps.syncs.engine.values import is_empty
from apps.syncs.models import Conflict, RecordLink, SyncCursor
from connectors.memory.connector import SimulatedCrash, _tick, reset_stores
from tests.running import engine_run
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db

EMAILS = ["ann@x.com", "Ann@x.com", "bob@x.com", "cy@x.com", "dee@x.com"]
NAMES = ["Ann", "ann", " Bob", "Cy ", "Dee", "Eve"]
PHONES = ["1", "2", "3"]
MAPPINGS = [
    {"field_a": "email", "field_b": "email"},
    {"field_a": "name", "field_b": "full_name"},
    {"field_a": "phone", "field_b": "phone", "direction": "a_to_b"},
]
# Per side: field -> pool of values a user may type there. B never edits the one-way phone.
EDITABLE = {
    "a": {"email": EMAILS, "name": NAMES, "phone": PHONES},
    "b": {"email": EMAILS, "full_name": NAMES},
}
OBJECT = {"a": "contacts", "b": "users"}

side_st = st.sampled_from(["a", "b"])
create_st = st.tuples(
    st.just("create"),
    side_st,
    st.sampled_from(EMAILS),
    st.sampled_from(NAMES),
    st.sampled_from(PHONES),
)
edit_st = st.tuples(
    st.just("edit"),
    side_st,
    st.integers(0, 7),
    st.sampled_from(["email", "name", "name", "phone"]),
    st.integers(0, 5),
)
delete_st = st.tuples(st.just("delete"), side_st, st.integers(0, 7))
run_st = st.sampled_from([("run",), ("run",), ("twice",)])
crash_st = st.tuples(st.just("crash"), side_st, st.integers(1, 4), st.booleans())
faults_st = st.tuples(
    st.just("faults"), st.sets(st.sampled_from(["duplicate", "overlap", "reorder"]))
)
op_st = st.one_of(
    create_st, create_st, edit_st, edit_st, edit_st, delete_st, run_st, crash_st, faults_st
)
config_st = st.fixed_dictionaries(
    {
        "conflict_policy": st.sampled_from(["manual", "prefer_a", "prefer_b", "newest"]),
        "delete_policy": st.sampled_from(["unlink", "propagate", "ignore"]),
        "page_size": st.sampled_from([1, 2, 50]),
    }
)


class World:
    """The two systems, the sync, and what users did (for property 2)."""

    def __init__(self, ws: Any, config: dict[str, Any]) -> None:
        crm, desk = f.stores(normalise_b=True)
        self.stores = {"a": crm, "b": desk}
        self.sync = f.sync(
            ws,
            crm,
            desk,
            mappings=MAPPINGS,
            initial_policy="conflict",
            conflict_policy=config["conflict_policy"],
            delete_policy=config["delete_policy"],
            page_size=config["page_size"],
        )
        self.user_ids: dict[str, list[str]] = {"a": [], "b": []}
        # The stores' tick at the start of each run: what a run read (for property 2).
        self.run_ticks: list[int] = []

    def engine_run(self) -> None:
        self.run_ticks.append(_tick())
        engine_run(self.sync)

    def live(self, side: str) -> list[str]:
        store = self.stores[side]
        return [
            i
            for i in self.user_ids[side] + self._engine_ids(side)
            if store.record(OBJECT[side], i) is not None
        ]

    def _engine_ids(self, side: str) -> list[str]:
        users = set(self.user_ids[side])
        return [r.id for r in self.stores[side].all(OBJECT[side]) if r.id not in users]

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == "create":
            _, side, email, name, phone = op
            fields = {"email": email, "name": name, "phone": phone}
            if side == "b":
                fields = {"email": email, "full_name": name}
            record = self.stores[side].insert(OBJECT[side], fields)
            self.user_ids[side].append(record.id)
        elif kind == "edit":
            _, side, index, field, value_index = op
            ids = self.live(side)
            if not ids:
                return
            if side == "b":
                field = {"name": "full_name", "phone": "full_name"}.get(field, field)
            pool = EDITABLE[side][field]
            self.stores[side].edit(
                OBJECT[side], ids[index % len(ids)], {field: pool[value_index % len(pool)]}
            )
        elif kind == "delete":
            _, side, index = op
            ids = self.live(side)
            if ids:
                self.stores[side].remove(OBJECT[side], ids[index % len(ids)])
        elif kind == "run":
            self.engine_run()
        elif kind == "twice":
            self.run_twice()
        elif kind == "crash":
            _, side, n, after = op
            store = self.stores[side]
            store.crash_on_write(n, after=after)
            with contextlib.suppress(SimulatedCrash):
                self.engine_run()
            store.cancel_crash()
            # The run is retried at once (a redelivered task), as the runs app does.
            # Edits between a crash and its retry are left out on purpose: a record whose
            # sent values were all edited meanwhile cannot be recognised (docs/engine.md).
            self.engine_run()
        elif kind == "faults":
            for store in self.stores.values():
                store.feed_faults = set(op[1])

    def cursors(self) -> dict[str, Any]:
        return {c.side: c.value for c in SyncCursor.objects.filter(sync=self.sync)}

    def restore(self, cursors: dict[str, Any]) -> None:
        SyncCursor.objects.filter(sync=self.sync).delete()
        for side, value in cursors.items():
            SyncCursor.objects.create(sync=self.sync, side=side, value=value)

    def writes(self) -> tuple[int, int]:
        return self.stores["a"].writes, self.stores["b"].writes

    def run_twice(self) -> None:
        """5. the same run again (its changes delivered once more) changes nothing."""
        before = self.cursors()
        self.engine_run()
        state, writes = self.snapshot(), self.writes()
        self.restore(before)
        self.engine_run()
        assert self.writes() == writes, "the repeated run wrote"
        assert self.snapshot() == state, "the repeated run changed the state"

    def quiesce(self) -> None:
        for store in self.stores.values():
            store.feed_faults = set()
            store.cancel_crash()
        self.run_twice()
        self.engine_run()

    def snapshot(self) -> tuple:
        links = sorted(
            (lk.a_id or "", lk.b_id or "", lk.status, repr(sorted(lk.base.items())))
            for lk in RecordLink.objects.filter(sync=self.sync)
        )
        conflicts = sorted(
            (c.link_id, c.mapping_id, c.status, repr(c.value_a), repr(c.value_b))
            for c in Conflict.objects.filter(sync=self.sync)
        )
        records = {
            side: sorted((r.id, repr(sorted(r.fields.items()))) for r in s.all(OBJECT[side]))
            for side, s in self.stores.items()
        }
        return links, conflicts, records


def check_properties(world: World) -> None:
    sync = world.sync
    crm, desk = world.stores["a"], world.stores["b"]
    specs = [mapping_spec(m) for m in sync.mappings.all()]
    links = list(RecordLink.objects.filter(sync=sync))
    open_conflicts = {
        (c.link_id, str(c.mapping_id))
        for c in Conflict.objects.filter(sync=sync, status=Conflict.Status.OPEN)
    }
    linked = [lk for lk in links if lk.status == LinkStatus.LINKED]

    # 1. linked pairs agree, except fields held by an open conflict
    for link in linked:
        a = crm.record("contacts", link.a_id)
        b = desk.record("users", link.b_id)
        assert a is not None, f"linked {link} but A is gone"
        assert b is not None, f"linked {link} but B is gone"
        for m in specs:
            if (link.pk, m.id) in open_conflicts:
                continue
            va, vb = a.fields.get(m.field_a), b.fields.get(m.field_b)
            if m.direction != "both" and is_empty(va if m.direction == "a_to_b" else vb):
                continue  # a one-way field whose source is empty: an empty value never
                # overwrites a filled one
            assert m.agree(va, vb), (
                f"{link}: {m.field_a}={a.fields.get(m.field_a)!r} "
                f"vs {m.field_b}={b.fields.get(m.field_b)!r}"
            )

    # 3. nobody is linked twice; the engine made no duplicates
    for side in ("a", "b"):
        active = [
            getattr(lk, f"{side}_id")
            for lk in links
            if lk.status
            in (LinkStatus.LINKED, LinkStatus.PENDING_CREATE_A, LinkStatus.PENDING_CREATE_B)
        ]
        active = [i for i in active if i is not None]
        assert len(active) == len(set(active)), f"a record of {side} is linked twice"
    pending = [lk for lk in links if lk.status != LinkStatus.LINKED and lk.pending_fields]
    for side, other in (("a", "b"), ("b", "a")):
        made: defaultdict[str, list[str]] = defaultdict(list)
        # Live engine-made records (one whose counterpart a user deleted may be replaced
        # legitimately by a new one once the survivor changes again).
        created_ids = [
            r.id for r in world.stores[side].all(OBJECT[side]) if r.id not in world.user_ids[side]
        ]
        for record_id in created_ids:
            rows = [lk for lk in links if getattr(lk, f"{side}_id") == record_id]
            if not rows:
                # Only acceptable when an interrupted create is still waiting for a person
                # (two identical candidates were found when recovering it).
                assert pending, f"engine-made {side}:{record_id} belongs to no link"
                continue
            # Its first link is the one its create made; later ones come from matching.
            first = min(rows, key=lambda r: r.pk)
            made[getattr(first, f"{other}_id")].append(record_id)
        for source, copies in made.items():
            assert len(copies) == 1, f"{other}:{source} has engine-made copies {copies}"

    # 2. every user edit reached the other side, was overwritten on its own side, or is kept
    #    as a conflict's value
    partners: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for link in links:
        if link.a_id and link.b_id:
            partners[("a", link.a_id)].add(link.b_id)
            partners[("b", link.b_id)].add(link.a_id)
    kept: defaultdict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for c in Conflict.objects.filter(sync=sync).select_related("link"):
        if c.status == Conflict.Status.OPEN or c.resolution == "b":
            kept[("a", c.link.a_id, str(c.mapping_id))].append(c.value_a)
        if c.status == Conflict.Status.OPEN or c.resolution == "a":
            kept[("b", c.link.b_id, str(c.mapping_id))].append(c.value_b)
    history = {side: world.stores[side].history for side in ("a", "b")}
    for link in linked:
        for side, other in (("a", "b"), ("b", "a")):
            record_id = getattr(link, f"{side}_id")
            writes = [c for c in history[side] if c.record_id == record_id]
            for m in specs:
                field = m.field_a if side == "a" else m.field_b
                other_field = m.field_b if side == "a" else m.field_a
                kind = m.kind_a if side == "a" else m.kind_b
                # The user edits that changed the value (setting what is there is no edit);
                # all but the last were overwritten by a later edit on this side.
                mine, current = [], None
                for change in writes:
                    if field not in change.values:
                        continue
                    new = change.values[field]
                    if change.by == "user" and not m.same(kind, new, current):
                        mine.append(change)
                    current = new
                if not mine:
                    continue
                last = mine[-1]
                value = last.values[field]
                # An edit that puts back the value the record held after the last run
                # before it (A: x -> y -> x between two runs) leaves nothing a state-based
                # merge can see: for the engine the record did not change, and a partner's
                # edit of the field meanwhile rightly wins. Not a lost edit.
                read_at = max((t for t in world.run_ticks if t < last.seq), default=None)
                if read_at is not None:
                    known = [
                        c.values[field]
                        for c in writes
                        if field in c.values
                        and c.seq < last.seq
                        and (c.by != "user" or c.seq < read_at)
                    ]
                    if known and m.same(kind, value, known[-1]):
                        continue
                if any(
                    m.same(m.kind_a if side == "a" else m.kind_b, value, v)
                    for v in kept[(side, record_id, m.id)]
                ):
                    continue
                assert _reached(
                    m,
                    side,
                    value,
                    last.seq,
                    partners[(side, record_id)],
                    history[other],
                    other_field,
                ), f"edit {side}:{record_id}.{field}={value!r} (tick {last.seq}) was lost"


def _reached(m, side, value, seq, partner_ids, other_history, other_field) -> bool:
    """Some partner held an equivalent value at the edit's tick or after it."""
    for partner in partner_ids:
        held_at_edit = None
        for change in other_history:
            if change.record_id != partner or other_field not in change.values:
                continue
            if change.seq <= seq:
                held_at_edit = change.values[other_field]
            elif _agree(m, side, value, change.values[other_field]):
                return True
        if held_at_edit is not None and _agree(m, side, value, held_at_edit):
            return True
    return False


def _agree(m, side: str, value: Any, other_value: Any) -> bool:
    return m.agree(value, other_value) if side == "a" else m.agree(other_value, value)


@settings(
    max_examples=max(500, settings.default.max_examples),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(config=config_st, ops=st.lists(op_st, min_size=1, max_size=25))
# Found by the fuzz profile: A's name goes x -> y -> x between two runs while B edits it;
# the engine rightly sees A unchanged (see check_properties), which the check once called
# a lost edit.
@example(
    config={"conflict_policy": "manual", "delete_policy": "unlink", "page_size": 1},
    ops=[
        ("create", "a", "ann@x.com", "Ann", "1"),
        ("create", "a", "ann@x.com", "Ann", "1"),
        ("delete", "a", 0),
        ("delete", "a", 0),
        ("create", "b", "ann@x.com", "ann", "1"),
        ("delete", "a", 0),
        ("run",),
        ("edit", "a", 1, "name", 0),
        ("edit", "b", 0, "name", 0),
        ("edit", "a", 0, "name", 1),
    ],
)
def test_engine_properties(ws_factory, config, ops):
    note(f"config={config!r}\nops={ops!r}")
    reset_stores()
    with transaction.atomic():
        world = World(ws_factory, config)
        for op in ops:
            world.apply(op)
        world.quiesce()
        check_properties(world)

        # 4. a run with no new changes makes no writes (5. was checked by run_twice)
        writes = world.writes()
        world.engine_run()
        assert world.writes() == writes
        transaction.set_rollback(True)


@pytest.fixture
def ws_factory(db):
    return f.workspace()
