"""A sync definition built step by step: sides, fields, scope, then saved through the same
services as the API. Against two in-memory systems (crm contacts as A, desk users as B)."""

from __future__ import annotations

import pytest

from apps.core.errors import Invalid, Refused
from apps.syncs import drafts
from apps.syncs.drafts import draft_problems
from apps.syncs.engine.types import Side
from apps.syncs.models import Sync
from apps.syncs.services import sync_update
from apps.syncs.transfer import sync_export
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    ws = f.workspace()
    crm, desk = f.stores()
    return ws, f.memory_connection(ws, crm), f.memory_connection(ws, desk), crm, desk


def sides(ws, a, b, **kw):
    draft = drafts.draft_new()
    values = {
        "connection_a": str(a.public_id),
        "object_type_a": "contacts",
        "connection_b": str(b.public_id),
        "object_type_b": "users",
        **kw,
    }
    problems = drafts.draft_sides_set(draft, ws, **values)
    return draft, problems


def test_choosing_both_sides_reads_their_fields_once_and_suggests_mappings(world):
    ws, a, b, crm, desk = world
    draft, problems = sides(ws, a, b)
    assert problems == {}
    assert draft["name"] == f"{a.name} contacts and {b.name} users"
    assert [m["field_a"] for m in draft["mappings"]] == [
        "email",
        "phone",
        "score",
        "vip",
        "renewal",
        "owner",
    ]
    assert draft["match_rule"] == [{"a": "email", "b": "email", "normalise": "email"}]
    calls = crm.calls["fields"], desk.calls["fields"]
    fields = drafts.draft_fields(draft, ws)
    assert set(fields[Side.A]) == {s.name for s in f.CRM_FIELDS}
    assert (crm.calls["fields"], desk.calls["fields"]) == calls  # from the draft's cache
    drafts.draft_refresh(draft, ws)
    assert crm.calls["fields"] == calls[0] + 1


def test_choosing_the_same_sides_again_keeps_the_mappings_other_sides_start_over(world):
    ws, a, b, crm, _ = world
    draft, _ = sides(ws, a, b)
    draft["mappings"] = [{"field_a": "name", "field_b": "full_name"}]
    drafts.draft_sides_set(draft, ws, **{k: draft[k] for k in drafts.SIDES_KEYS})
    assert draft["mappings"] == [{"field_a": "name", "field_b": "full_name"}]
    other = f.memory_connection(ws, crm)  # the same system under another connection
    drafts.draft_sides_set(
        draft,
        ws,
        **{
            **{k: draft[k] for k in drafts.SIDES_KEYS},
            "connection_b": str(other.public_id),
            "object_type_b": "contacts",
        },
    )
    assert {m["field_a"] for m in draft["mappings"]} >= {"email", "name", "status"}


def test_side_problems_name_their_field(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    foreign = f.memory_connection(f.workspace("Other"), f.stores()[0])
    values = {k: draft[k] for k in drafts.SIDES_KEYS}
    values.update(object_type_b="tickets", connection_a=str(foreign.public_id))
    assert drafts.draft_sides_set(draft, ws, **values) == {
        "connection_a": "no such connection in this workspace",
        "object_type_b": f"{b.name} has no object type 'tickets' (it has: users)",
    }
    Sync.objects.create(
        workspace=ws,
        name="Taken",
        connection_a=a,
        object_type_a="contacts",
        connection_b=b,
        object_type_b="users",
    )
    _, problems = sides(ws, a, b, name=" Taken ")
    assert problems == {"name": "a sync named 'Taken' already exists"}


def test_another_connection_forgets_a_type_it_does_not_have(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    values = {k: draft[k] for k in drafts.SIDES_KEYS}
    assert drafts.draft_sides_set(draft, ws, **{**values, "connection_b": str(a.public_id)}) == {}
    assert draft["object_type_b"] == ""  # a's system has contacts, not users


def test_a_new_row_and_blank_choices_say_what_to_choose_only_when_asked(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    fields = drafts.draft_fields(draft, ws)
    rows = [{**m, "was": i} for i, m in enumerate(draft["mappings"])]
    drafts.draft_mappings_set(
        draft, fields, [*rows, {"field_a": "name", "field_b": "", "was": None}]
    )
    assert draft_problems(draft, ws, fields, "fields", missing=False) == {}
    assert draft_problems(draft, ws, fields, "fields") == {
        "mappings.6.field_b": "choose a field of B"
    }


def test_an_incompatible_pair_is_explained_on_its_row(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    fields = drafts.draft_fields(draft, ws)
    drafts.draft_mappings_set(
        draft, fields, [{"field_a": "vip", "field_b": "renewal", "was": None}]
    )
    assert draft_problems(draft, ws, fields, "fields") == {
        "mappings.0": "vip <-> renewal: incompatible types: A.vip is boolean, B.renewal is datetime"
    }


def test_an_enum_pair_starts_with_its_suggested_value_maps(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    fields = drafts.draft_fields(draft, ws)
    drafts.draft_mappings_set(
        draft, fields, [{"field_a": "status", "field_b": "state", "was": None}]
    )
    [mapping] = draft["mappings"]
    # "open"/"closed" match none of "To Do"/"Done" by value or label: a person decides.
    assert (mapping["value_map_a_to_b"], mapping["value_map_b_to_a"]) == ({}, {})
    problems = draft_problems(draft, ws, fields, "fields")
    assert list(problems) == ["mappings.0.value_map_a_to_b"]
    # The editor sends a complete map: the row works.
    drafts.draft_mappings_set(
        draft,
        fields,
        [
            {
                "field_a": "status",
                "field_b": "state",
                "was": 0,
                "value_map_a_to_b": f.STATUS_MAP,
                "value_map_b_to_a": f.STATUS_BACK,
            }
        ],
    )
    assert draft_problems(draft, ws, fields, "fields") == {}


def test_an_untouched_row_keeps_what_the_form_does_not_show(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    fields = drafts.draft_fields(draft, ws)
    draft["mappings"] = [
        {"field_a": "name", "field_b": "notes", "kind_a": "text", "default_b": "n/a"},
        {"field_a": "tags", "field_b": "labels", "direction": "both"},
    ]
    posted = [
        # The tags editor shows the conversion by equal values and is sent back as shown.
        {"field_a": "name", "field_b": "notes", "direction": "a_to_b", "was": 0},
        {
            "field_a": "tags",
            "field_b": "labels",
            "direction": "both",
            "was": 1,
            "value_map_a_to_b": {"a": "a", "b": "b", "c": "c"},
            "value_map_b_to_a": {"a": "a", "b": "b", "c": "c"},
        },
    ]
    drafts.draft_mappings_set(draft, fields, posted)
    assert draft["mappings"] == [
        {
            "field_a": "name",
            "field_b": "notes",
            "direction": "a_to_b",
            "kind_a": "text",
            "default_b": "n/a",
        },
        {"field_a": "tags", "field_b": "labels", "direction": "both"},
    ]
    # A changed entry is kept; another pair on the row forgets the first one's settings.
    posted[1]["value_map_a_to_b"] = {"a": "b", "b": "b", "c": "c"}
    posted[0]["field_b"] = "full_name"
    drafts.draft_mappings_set(draft, fields, posted)
    assert draft["mappings"][0] == {
        "field_a": "name",
        "field_b": "full_name",
        "direction": "a_to_b",
    }
    assert draft["mappings"][1]["value_map_a_to_b"] == {"a": "b", "b": "b", "c": "c"}


def test_scope_problems_name_each_filter_and_setting(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    fields = drafts.draft_fields(draft, ws)
    drafts.draft_scope_set(
        draft,
        filters=[
            {"side": "a", "field": "", "operator": "", "value": None},
            {"side": "b", "field": "vip", "operator": "equals", "value": None},
            {"side": "a", "field": "score", "operator": "greater", "value": "many"},
        ],
        match_rule=[{"a": "email", "b": "", "normalise": "email"}],
        settings={"interval_seconds": 5},
    )
    assert draft_problems(draft, ws, fields, "scope", missing=False) == {
        "filters.2": "the filter on score: 'many' is not a number",
        "interval_seconds": "the schedule interval is at least 10 seconds",
    }
    assert sorted(draft_problems(draft, ws, fields, "scope")) == [
        "filters.0",
        "filters.1",
        "filters.2",
        "interval_seconds",
        "match_rule.0.b",
    ]


def test_a_new_draft_is_saved_disabled_as_the_api_would_create_it(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b, name="Contacts")
    drafts.draft_scope_set(
        draft,
        filters=[{"side": "b", "field": "vip", "operator": "equals", "value": "true"}],
        match_rule=draft["match_rule"],
        settings={"interval_seconds": 3600, "safety_limit_count": None},
    )
    assert draft_problems(draft, ws, drafts.draft_fields(draft, ws)) == {}
    sync = drafts.draft_save(draft, ws)
    document = sync_export(sync)
    assert (sync.enabled, document["interval_seconds"], document["safety_limit_count"]) == (
        False,
        3600,
        None,
    )
    assert document["filters"] == [
        {"side": "b", "field": "vip", "operator": "equals", "value": True}
    ]
    assert [m["field_a"] for m in document["mappings"]] == [m["field_a"] for m in draft["mappings"]]


def test_a_save_refused_by_a_service_names_the_step(world):
    ws, a, b, _, _ = world
    draft, _ = sides(ws, a, b)
    draft["mappings"] = [{"field_a": "name", "field_b": "ticket_count"}]
    with pytest.raises(Invalid) as exc:
        drafts.draft_save(draft, ws)
    assert drafts.problems_by_step(exc.value) == {
        "fields": {"mappings.0.direction": exc.value.message}
    }


def test_an_existing_sync_edited_unchanged_is_saved_unchanged_without_a_full_read(world):
    ws, _, _, crm, desk = world
    s = f.sync(
        ws,
        crm,
        desk,
        mappings=[
            *f.BASIC_MAPPINGS,
            f.STATUS_MAPPING,
            {"field_a": "region", "field_b": "notes", "kind_b": "text", "default_b": "-"},
        ],
        filters=[{"side": "a", "field": "score", "operator": "greater", "value": 3}],
    )
    before = sync_export(s)
    draft = drafts.draft_for_sync(s)
    fields = drafts.draft_fields(draft, ws)
    # What the fields step posts back for untouched rows, editors included.
    rows = [
        {
            **m,
            "was": i,
            "value_map_a_to_b": m["value_map_a_to_b"] or None,
            "value_map_b_to_a": m["value_map_b_to_a"] or None,
        }
        for i, m in enumerate(draft["mappings"])
    ]
    drafts.draft_mappings_set(draft, fields, rows)
    assert drafts.draft_effects(draft, ws, fields) == []
    saved = drafts.draft_save(draft, ws)
    assert sync_export(saved) == before
    assert saved.resync_requested is False


def test_an_edit_says_what_it_will_do_and_does_it(world):
    ws, _, _, crm, desk = world
    s = f.sync(ws, crm, desk)
    draft = drafts.draft_for_sync(s)
    fields = drafts.draft_fields(draft, ws)
    rows = [{**m, "was": i} for i, m in enumerate(draft["mappings"])]
    rows.append({"field_a": "vip", "field_b": "vip", "was": None})
    drafts.draft_mappings_set(draft, fields, rows)
    assert [e.code for e in drafts.draft_effects(draft, ws, fields)] == ["mapping_added"]
    saved = drafts.draft_save(draft, ws)
    assert saved.resync_requested is True
    assert saved.mappings.filter(field_a="vip").exists()


def test_an_edit_of_a_sync_changed_meanwhile_is_refused(world):
    ws, _, _, crm, desk = world
    s = f.sync(ws, crm, desk)
    draft = drafts.draft_for_sync(s)
    sync_update(s, interval_seconds=60)  # through the API, say
    with pytest.raises(Refused) as exc:
        drafts.draft_save(draft, ws)
    assert exc.value.code == "sync_changed"
