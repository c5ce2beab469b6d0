"""Services: validation against field discovery, pausing, preview."""

from __future__ import annotations

import pytest

from apps.core.errors import Invalid, Refused
from apps.runs.models import SyncRun
from apps.runs.services import run_manual
from apps.syncs.models import Conflict, RecordLink, Sync
from apps.syncs.services import (
    mapping_add,
    sync_create,
    sync_pause,
    sync_preview,
    sync_resume,
    sync_update,
)
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"field_a": "name", "field_b": "ticket_count"}, "mappings.0.direction"),
        (
            {"field_a": "created", "field_b": "notes", "direction": "b_to_a"},
            "mappings.0.direction",
        ),
        ({"field_a": "score", "field_b": "owner"}, "mappings.0"),
        ({"field_a": "vip", "field_b": "renewal"}, "mappings.0"),
        ({"field_a": "status", "field_b": "state"}, "mappings.0.value_map_a_to_b"),
        (
            {
                "field_a": "status",
                "field_b": "state",
                "value_map_a_to_b": {"open": "To Do"},
                "value_map_b_to_a": f.STATUS_BACK,
            },
            "mappings.0.value_map_a_to_b",
        ),
        (
            {
                "field_a": "status",
                "field_b": "state",
                "value_map_a_to_b": {"open": "Doing", "closed": "Done"},
                "value_map_b_to_a": f.STATUS_BACK,
            },
            "mappings.0.value_map_a_to_b",
        ),
        ({"field_a": "nope", "field_b": "email"}, "mappings.0.field_a"),
        ({"field_a": "name", "field_b": "state", "default_b": "Later"}, "mappings.0.default_b"),
        (
            {"field_a": "name", "field_b": "full_name", "direction": "sideways"},
            "mappings.0.direction",
        ),
    ],
)
def test_a_mapping_that_cannot_work_is_rejected_naming_what_to_fix(mapping, field):
    s, _, _ = setup()
    with pytest.raises(Invalid) as exc:
        mapping_add(s, **mapping)
    assert (exc.value.code, exc.value.field) == ("invalid_mapping", field)
    assert exc.value.message
    assert s.mappings.count() == len(f.BASIC_MAPPINGS)


def test_a_working_mapping_stores_kinds_and_options_from_discovery():
    s, _, _ = setup()
    m = mapping_add(
        s,
        field_a="status",
        field_b="state",
        value_map_a_to_b=f.STATUS_MAP,
        value_map_b_to_a=f.STATUS_BACK,
    )
    assert (m.kind_a, m.kind_b) == ("enum", "enum")
    assert m.options_b == ["To Do", "Done"]


def test_sync_settings_are_validated():
    ws = f.workspace()
    crm, desk = f.stores()
    with pytest.raises(Invalid) as exc:
        f.sync(ws, crm, desk, interval_seconds=5)
    assert exc.value.field == "interval_seconds"
    with pytest.raises(Invalid) as exc:
        f.sync(
            ws,
            crm,
            desk,
            mappings=[*f.BASIC_MAPPINGS, {"field_a": "region", "field_b": "full_name"}],
        )
    assert (exc.value.code, exc.value.field) == ("invalid_mapping", "mappings")
    connection_a = f.memory_connection(ws, crm)
    connection_b = f.memory_connection(ws, desk)
    with pytest.raises(Invalid) as exc:
        sync_create(
            workspace=ws,
            name="x",
            connection_a=connection_a,
            object_type_a="tickets",
            connection_b=connection_b,
            object_type_b="users",
            mappings=f.BASIC_MAPPINGS,
        )
    assert exc.value.field == "object_type_a"
    with pytest.raises(Invalid) as exc:
        f.sync(
            ws,
            crm,
            desk,
            filters=[{"side": "a", "field": "region", "operator": "in", "value": "EU"}],
        )
    assert exc.value.field == "filters.0"
    with pytest.raises(Invalid) as exc:
        f.sync(ws, crm, desk, match_rule=[{"a": "email", "b": "mail"}])
    assert exc.value.field == "match_rule.0.b"  # the message says side B lacks the field
    assert Sync.objects.count() == 0


def test_preview_counts_and_samples_without_writing():
    s, crm, desk = setup(initial_policy="conflict")
    crm.insert("contacts", {"email": "same@x.com", "name": "Same"})
    crm.insert("contacts", {"email": "diff@x.com", "name": "A side"})
    crm.insert("contacts", {"email": "new@x.com", "name": "New"})
    desk.insert("users", {"email": "SAME@x.com", "full_name": "Same"})
    desk.insert("users", {"email": "diff@x.com", "full_name": "B side"})
    desk.insert("users", {"email": "only-b@x.com"})
    desk.insert("users", {"email": "only-b2@x.com"})

    preview = sync_preview(s, sample_size=1)

    c = preview.counts
    assert (c["matched"], c["created_a"], c["created_b"], c["conflicts"]) == (2, 2, 1, 1)
    assert c["updated_a"] == 0
    assert len(preview.samples["created_a"]) == 1
    assert preview.samples["conflicts"][0]["value_a"] == "A side"
    assert (crm.writes, desk.writes) == (0, 0)
    assert not RecordLink.objects.exists()
    assert not Conflict.objects.exists()


def test_preview_tells_of_every_page_with_the_records_read_so_far():
    s, crm, desk = setup(page_size=2)
    for n in range(5):
        crm.insert("contacts", {"email": f"a{n}@x.com", "name": f"A{n}"})
    for n in range(3):
        desk.insert("users", {"email": f"b{n}@x.com"})
    seen = []

    preview = sync_preview(
        s, on_page=lambda so_far: seen.append((so_far.counts["read_a"], so_far.counts["read_b"]))
    )

    assert seen == [(2, 0), (4, 0), (5, 0), (5, 2), (5, 3)]
    assert (preview.counts["read_a"], preview.counts["read_b"]) == (5, 3)
    assert preview.summary()["counts"]["created_b"] == 5


def test_changing_filters_asks_for_a_full_resync():
    s, crm, _ = setup()
    crm.insert("contacts", {"email": "in@x.com", "region": "EU"})
    run_now(s)
    sync_update(s, filters=[{"side": "a", "field": "region", "operator": "equals", "value": "US"}])
    s.refresh_from_db()
    assert s.resync_requested
    run_now(s)
    assert RecordLink.objects.get().status == "unlinked"
    s.refresh_from_db()
    assert not s.resync_requested


def test_the_same_filters_given_again_ask_for_nothing():
    us = [{"side": "a", "field": "region", "operator": "equals", "value": "US"}]
    s, _, _ = setup(filters=us)
    sync_update(s, filters=us, name="renamed")
    s.refresh_from_db()
    assert (s.name, s.resync_requested) == ("renamed", False)


def test_pause_and_resume():
    s, _, _ = setup()
    sync_pause(s, reason="maintenance")
    with pytest.raises(Refused) as refused:
        run_manual(s)
    assert refused.value.code == "sync_paused"
    assert s.paused_reason == "maintenance"
    sync_resume(s)
    assert run_now(s).status == SyncRun.Status.SUCCEEDED


# -- loops of syncs ---------------------------------------------------------------------------


def test_a_sync_closing_a_loop_must_leave_conflicts_to_a_person():
    ws = f.workspace()
    _, syncs = f.three_systems(ws, ("xy", "yz"), policies={"xy": {"conflict_policy": "newest"}})
    xy, yz = syncs["xy"], syncs["yz"]
    with pytest.raises(Invalid) as refused:
        sync_create(
            workspace=ws,
            name="xz",
            connection_a=xy.connection_a,
            object_type_a="contacts",
            connection_b=yz.connection_b,
            object_type_b="contacts",
            mappings=f.THREE_MAPPINGS,
            conflict_policy="prefer_a",
        )
    assert refused.value.code == "loop_policy"
    assert refused.value.field == "conflict_policy"
    message = refused.value.message
    assert f"{xy.name!r}" in message
    assert f"{yz.name!r}" in message
    # What to change: this sync (prefer_a) and the loop's one sync that lets a side win.
    assert message.endswith(f"Change this sync and {xy.name!r}")
    assert not Sync.objects.filter(name="xz").exists()


def test_a_loop_of_manual_syncs_is_allowed_and_stays_manual():
    ws = f.workspace()
    _, syncs = f.three_systems(ws)  # the triangle, every sync manual with "conflict"
    sync_update(syncs["xy"], name="renamed xy")  # not a policy: nothing to check
    with pytest.raises(Invalid, match="form a loop") as refused:
        sync_update(syncs["yz"], conflict_policy="newest")
    assert refused.value.message.endswith("Change this sync")
    with pytest.raises(Invalid, match="form a loop"):
        sync_update(syncs["xz"], initial_policy="a_wins")
    assert {s.conflict_policy for s in Sync.objects.filter(workspace=ws)} == {"manual"}
    assert {s.initial_policy for s in Sync.objects.filter(workspace=ws)} == {"conflict"}


def test_a_chain_takes_any_policy():
    ws = f.workspace()
    _, syncs = f.three_systems(
        ws,
        ("xy", "yz"),
        policies={"xy": {"conflict_policy": "prefer_a"}, "yz": {"initial_policy": "b_wins"}},
    )
    sync_update(syncs["yz"], conflict_policy="newest")
    assert Sync.objects.get(pk=syncs["yz"].pk).conflict_policy == "newest"


def test_two_syncs_of_the_same_two_systems_are_a_loop():
    ws = f.workspace()
    _, syncs = f.three_systems(ws, ("xy",))
    xy = syncs["xy"]
    with pytest.raises(Invalid, match="form a loop") as refused:
        sync_create(
            workspace=ws,
            name="xy again",
            connection_a=xy.connection_b,
            object_type_a="contacts",
            connection_b=xy.connection_a,
            object_type_b="contacts",
            mappings=f.THREE_MAPPINGS,
            conflict_policy="prefer_b",
        )
    assert refused.value.code == "loop_policy"
