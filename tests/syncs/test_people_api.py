"""The people table API (/api/v1/people/) and the reference fields of a sync's mappings in
the syncs API, against in-memory systems (the engine is not mocked)."""

from __future__ import annotations

import pytest

from apps.syncs.models import PersonMapping, WaitingReference
from apps.syncs.transfer import sync_document_effects, sync_export
from tests.factories import MembershipFactory
from tests.syncs import factories as f
from tests.syncs.factories import run
from tests.syncs.reference_world import CONTACT_MAPPINGS, build
from tests.syncs.test_api import assert_error, client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/people/"


@pytest.fixture
def world():
    return build()


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _member(ws, role: str):
    return client_for(MembershipFactory(workspace=ws, role=role))


def test_an_editor_adds_a_person_and_the_waiting_reference_is_written(world):
    ws, crm, desk, (conn_crm, conn_desk), _, contacts = world
    kim = desk.insert("agents", {"email": "kim.k@desk.io", "name": "Kim"})
    crm.insert("contacts", {"email": "bob@x.com", "name": "Bob", "owner": "kim@crm.io"})
    run(contacts)
    editor = _member(ws, "editor")

    answer = editor.post(
        URL,
        {
            "connection_a": str(conn_desk.public_id),
            "value_a": "kim.k@desk.io",
            "connection_b": str(conn_crm.public_id),
            "value_b": "kim@crm.io",
        },
        format="json",
    )

    assert answer.status_code == 201, answer.content
    body = answer.json()
    # Stored with the older connection as A, whichever order it was given in.
    assert body["connection_a"] == str(conn_crm.public_id)
    assert (body["value_a"], body["value_b"]) == ("kim@crm.io", "kim.k@desk.io")
    assert WaitingReference.objects.get().due
    run(contacts)
    [bob] = [u for u in desk.all("users") if u.fields["email"] == "bob@x.com"]
    assert bob.fields["agent"] == kim.id

    listed = editor.get(URL, {"connection": str(conn_desk.public_id)}).json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert editor.delete(f"{URL}{body['id']}/").status_code == 204
    assert not PersonMapping.objects.exists()


def test_a_viewer_reads_but_cannot_add(world):
    ws, _, _, (conn_crm, conn_desk), _, _ = world
    viewer = _member(ws, "viewer")
    assert viewer.get(URL).status_code == 200
    answer = viewer.post(
        URL,
        {
            "connection_a": str(conn_crm.public_id),
            "value_a": "a@x.com",
            "connection_b": str(conn_desk.public_id),
            "value_b": "7",
        },
        format="json",
    )
    assert answer.status_code == 403


def test_bad_entries_are_refused_naming_the_field(world):
    ws, _, _, (conn_crm, conn_desk), _, _ = world
    editor = _member(ws, "editor")
    entry = {
        "connection_a": str(conn_crm.public_id),
        "value_a": "a@x.com",
        "connection_b": str(conn_desk.public_id),
        "value_b": "7",
    }
    assert editor.post(URL, entry, format="json").status_code == 201
    body = assert_error(editor.post(URL, entry, format="json"), 400, "validation_error")
    assert "value_a" in str(body)
    same = {**entry, "connection_b": str(conn_crm.public_id), "value_a": "b@x.com"}
    body = assert_error(editor.post(URL, same, format="json"), 400, "validation_error")
    assert "connection_b" in str(body)
    other_ws = f.workspace("Other")
    foreign = f.memory_connection(other_ws, f.stores()[0])
    stranger = {**entry, "connection_b": str(foreign.public_id), "value_a": "c@x.com"}
    body = assert_error(editor.post(URL, stranger, format="json"), 400, "validation_error")
    assert "connection_b" in str(body)


def test_another_workspace_sees_none_of_the_table(world):
    ws, _, _, (conn_crm, conn_desk), _, _ = world
    _member(ws, "editor").post(
        URL,
        {
            "connection_a": str(conn_crm.public_id),
            "value_a": "a@x.com",
            "connection_b": str(conn_desk.public_id),
            "value_b": "7",
        },
        format="json",
    )
    row = PersonMapping.objects.get()
    outsider = _member(f.workspace("Other"), "owner")
    assert outsider.get(URL).json()["results"] == []
    assert outsider.get(f"{URL}{row.public_id}/").status_code == 404
    assert outsider.delete(f"{URL}{row.public_id}/").status_code == 404


def test_a_syncs_mappings_say_how_references_translate(world):
    ws, _, _, _, orgs, contacts = world
    body = _member(ws, "viewer").get(f"/api/v1/syncs/{contacts.public_id}/").json()
    by_field = {m["field_a"]: m for m in body["mappings"]}
    assert (by_field["company"]["reference"], by_field["company"]["reference_via"]) == (
        "records",
        str(orgs.public_id),
    )
    assert by_field["owner"]["reference"] == "people"
    assert (by_field["owner"]["users_a"], by_field["owner"]["users_b"]) == ("", "agents")
    assert by_field["name"]["reference"] == ""


def test_creating_the_referenced_record_is_a_mapping_option_that_round_trips(world):
    """Set through the API on a records reference (no full read for it), refused on a
    people one, carried by export and import."""
    ws, _, _, (conn_crm, conn_desk), orgs, contacts = world
    editor = _member(ws, "editor")
    url = f"/api/v1/syncs/{contacts.public_id}/"
    contacts.__class__.objects.filter(pk=contacts.pk).update(resync_requested=False)
    mappings = [dict(m) for m in CONTACT_MAPPINGS]
    mappings[2]["create_referenced"] = True
    definition = {
        "name": "contacts",
        "connection_a": str(conn_crm.public_id),
        "object_type_a": "contacts",
        "connection_b": str(conn_desk.public_id),
        "object_type_b": "users",
        "match_rule": [{"a": "email", "b": "email"}],
        "mappings": mappings,
    }

    response = editor.put(url, definition, format="json")

    assert response.status_code == 200, response.content
    by_field = {m["field_a"]: m for m in response.json()["mappings"]}
    assert by_field["company"]["create_referenced"] is True
    assert by_field["owner"]["create_referenced"] is False
    assert response.json()["resync_requested"] is False
    assert editor.get(url).json()["mappings"][2]["create_referenced"] is True

    people = [dict(m) for m in mappings]
    people[3]["create_referenced"] = True
    error = assert_error(
        editor.put(url, {**definition, "mappings": people}, format="json"), 400, "invalid_mapping"
    )
    assert list(error["fields"]) == ["mappings.3.create_referenced"]
    assert "only a mapping of two record references" in error["message"]
    plain = [dict(m) for m in mappings]
    plain[1]["create_referenced"] = True
    error = assert_error(
        editor.put(url, {**definition, "mappings": plain}, format="json"), 400, "invalid_mapping"
    )
    assert list(error["fields"]) == ["mappings.1.create_referenced"]
    assert not contacts.mappings.filter(field_a="owner", create_referenced=True).exists()

    document = editor.get(f"{url}export/").json()
    assert [m["create_referenced"] for m in document["mappings"]] == [False, False, True, False]
    imported = editor.post(
        "/api/v1/syncs/import/", {"document": document, "name": "contacts again"}, format="json"
    )
    assert imported.status_code == 201, imported.content
    copy = contacts.__class__.objects.get(public_id=imported.json()["id"])
    assert copy.mappings.get(field_a="company").create_referenced is True
    assert (
        editor.get(f"/api/v1/syncs/{copy.public_id}/export/").json()["mappings"]
        == (document["mappings"])
    )
    assert (copy.mappings.get(field_a="company").reference_via) == orgs
    # What saving the switch alone would do, as the builder's review lists it: no full read.
    contacts.refresh_from_db()
    off = sync_export(contacts)
    off["mappings"][2]["create_referenced"] = False
    [effect] = sync_document_effects(contacts, off)
    assert (effect.code, effect.resync) == ("mapping_changed", False)
    assert "is no longer created through its sync first" in effect.message
