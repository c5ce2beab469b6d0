"""Reference fields against two in-memory systems: translated through another sync's links,
waiting (durably) while the record they name is not linked, and people by email and table.

"crm" has companies and contacts (a contact's `company` is a company id, its `owner` an
email); "desk" has orgs, users (a user's `org` is an org id, its `agent` an agent id) and
agents, the desk's people. The org sync joins companies and orgs by name; the contact
sync joins contacts and users by email.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.errors import Invalid, Refused
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.syncs.conflicts import conflict_decide
from apps.syncs.engine.recorder import Action, Outcome
from apps.syncs.models import Conflict, Filter, RecordLink, WaitingReference
from apps.syncs.people import person_mapping_create
from apps.syncs.services import mapping_add, sync_create, sync_delete
from connectors.base import FieldSpec, FieldType
from connectors.memory.connector import store_for
from tests.running import events, run_now
from tests.syncs import factories as f
from tests.syncs.factories import run
from tests.syncs.reference_world import COMPANY, CONTACT, CONTACT_MAPPINGS, ORG, USER, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build()


def _desk_user(desk, email):
    [user] = [u for u in desk.all("users") if u.fields["email"] == email]
    return user


def _org_of(orgs_sync, company_id):
    return RecordLink.objects.get(sync=orgs_sync, a_id=company_id, status="linked").b_id


def test_a_reference_is_written_as_the_record_the_other_sync_links(world):
    _, crm, desk, _, orgs, contacts = world
    acme = crm.insert("companies", {"name": "Acme"})
    globex = crm.insert("companies", {"name": "Globex"})
    run(orgs)
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})

    report, recorder = run(contacts)

    assert report.outcome is Outcome.SUCCEEDED
    user = _desk_user(desk, "ann@x.com")
    assert user.fields["org"] == _org_of(orgs, acme.id)
    assert recorder.of(Action.WAITING) == []
    # And back: the desk's edit names the org linked to Globex, the crm gets Globex.
    desk.edit("users", user.id, {"org": _org_of(orgs, globex.id)})
    run(contacts)
    assert crm.record("contacts", ann.id).fields["company"] == globex.id


def test_an_unlinked_reference_waits_and_is_written_once_linked(world):
    _, crm, desk, _, orgs, contacts = world
    acme = crm.insert("companies", {"name": "Acme"})
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})

    report, recorder = run(contacts)

    user = _desk_user(desk, "ann@x.com")
    assert user.fields.get("org") is None  # created without it, not with a crm id
    [waiting] = recorder.of(Action.WAITING)
    assert waiting.code == "reference_unlinked"
    assert waiting.changes == {"company": {"value": acme.id}}
    assert "not linked" in waiting.message
    assert report.outcome is Outcome.SUCCEEDED
    row = WaitingReference.objects.get(sync=contacts)
    assert (row.side, row.value, row.mapping.field_a) == ("a", acme.id, "company")

    run(contacts)  # nothing linked yet: still waiting, nothing written
    assert _desk_user(desk, "ann@x.com").fields.get("org") is None
    assert WaitingReference.objects.filter(sync=contacts).count() == 1

    run(orgs)  # the org sync links Acme
    _, recorder = run(contacts)  # no change on the contact: its wait is over all the same

    assert _desk_user(desk, "ann@x.com").fields["org"] == _org_of(orgs, acme.id)
    assert recorder.of(Action.WAITING) == []
    assert not WaitingReference.objects.filter(sync=contacts).exists()
    writes = desk.writes
    run(contacts)
    assert desk.writes == writes  # settled: no echo, no rewrite


def test_an_edit_to_an_unlinked_reference_keeps_the_old_value_until_linked(world):
    _, crm, desk, _, orgs, contacts = world
    acme = crm.insert("companies", {"name": "Acme"})
    run(orgs)
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})
    run(contacts)
    initech = crm.insert("companies", {"name": "Initech"})
    crm.edit("contacts", ann.id, {"company": initech.id, "name": "Annie"})

    _, recorder = run(contacts)

    user = _desk_user(desk, "ann@x.com")
    assert user.fields["full_name"] == "Annie"  # the rest of the record syncs
    assert user.fields["org"] == _org_of(orgs, acme.id)
    assert [e.code for e in recorder.of(Action.WAITING)] == ["reference_unlinked"]
    run(orgs)
    run(contacts)
    assert _desk_user(desk, "ann@x.com").fields["org"] == _org_of(orgs, initech.id)


def test_translation_costs_the_same_queries_for_many_records(world):
    """Batched: the queries of a run do not grow with the number of records referring."""
    _, crm, _, _, orgs, contacts = world

    def queries(count: int, prefix: str) -> int:
        company = crm.insert("companies", {"name": f"{prefix} Inc"})
        run(orgs)
        for n in range(count):
            crm.insert(
                "contacts",
                {"email": f"{prefix}{n}@x.com", "name": "N", "company": company.id},
            )
        with CaptureQueriesContext(connection) as captured:
            run(contacts)
        return len(captured)

    queries(1, "warm")  # the first run also stores the cursors
    assert queries(3, "few") == queries(30, "many")


def test_people_are_matched_by_email_and_an_unknown_one_is_a_warning(world):
    _, crm, desk, _, _, contacts = world
    agent = desk.insert("agents", {"email": "Sue@Desk.io", "name": "Sue"})
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "owner": "sue@desk.io"})
    crm.insert("contacts", {"email": "bob@x.com", "name": "Bob", "owner": "kim@crm.io"})

    report, recorder = run(contacts)

    assert report.outcome is Outcome.SUCCEEDED
    assert _desk_user(desk, "ann@x.com").fields["agent"] == agent.id
    assert _desk_user(desk, "bob@x.com").fields.get("agent") is None
    [warning] = recorder.of(Action.WAITING)
    assert warning.code == "unknown_user"
    assert "kim@crm.io" in warning.message
    # And back: the agent's id on the desk becomes their email on the crm.
    other = desk.insert("agents", {"email": "lee@desk.io", "name": "Lee"})
    ann_user = _desk_user(desk, "ann@x.com")
    desk.edit("users", ann_user.id, {"agent": other.id})
    run(contacts)
    [ann] = [c for c in crm.all("contacts") if c.fields["email"] == "ann@x.com"]
    assert ann.fields["owner"] == "lee@desk.io"


def test_a_people_table_entry_writes_the_waiting_reference(world):
    ws, crm, desk, (conn_crm, conn_desk), _, contacts = world
    kim = desk.insert("agents", {"email": "kim.k@desk.io", "name": "Kim"})
    crm.insert("contacts", {"email": "bob@x.com", "name": "Bob", "owner": "kim@crm.io"})
    run(contacts)
    assert _desk_user(desk, "bob@x.com").fields.get("agent") is None

    # Entered desk first: the table keeps one order per pair of connections either way.
    person_mapping_create(
        workspace=ws,
        connection_a=conn_desk,
        connection_b=conn_crm,
        value_a="kim.k@desk.io",
        value_b="Kim@CRM.io",
    )
    assert WaitingReference.objects.get(sync=contacts).due
    _, recorder = run(contacts)

    assert _desk_user(desk, "bob@x.com").fields["agent"] == kim.id
    assert recorder.of(Action.WAITING) == []
    assert not WaitingReference.objects.exists()


def test_the_people_table_refuses_a_person_twice(world):
    ws, _, _, (conn_crm, conn_desk), _, _ = world
    person_mapping_create(
        workspace=ws, connection_a=conn_crm, connection_b=conn_desk, value_a="k", value_b="1"
    )
    with pytest.raises(Invalid) as error:
        person_mapping_create(
            workspace=ws, connection_a=conn_desk, connection_b=conn_crm, value_a="2", value_b="K"
        )
    assert error.value.field == "value_b"
    assert "already in this table" in str(error.value)


def test_a_reference_needs_a_sync_of_what_it_points_to(world):
    ws, _, _, (conn_crm, conn_desk), _, _ = world
    with pytest.raises(Invalid) as error:
        sync_create(
            workspace=ws,
            name="companies the other way",
            connection_a=conn_desk,
            object_type_a="users",
            connection_b=conn_crm,
            object_type_b="contacts",
            mappings=[
                {"field_a": "email", "field_b": "email"},
                {"field_a": "agent", "field_b": "company"},
            ],
        )
    assert error.value.field == "mappings.1"
    assert "agent" in str(error.value)


def test_a_reference_without_the_sync_it_follows_is_refused_with_the_reason(world):
    ws, crm, desk, (conn_crm, conn_desk), orgs, _ = world
    crm.define("deals", [*CONTACT, FieldSpec("title", "Title", FieldType.STRING)])
    desk.define("tickets", [*USER, FieldSpec("subject", "Subject", FieldType.STRING)])
    deals = sync_create(
        workspace=ws,
        name="deals",
        connection_a=conn_crm,
        object_type_a="deals",
        connection_b=conn_desk,
        object_type_b="tickets",
        mappings=[{"field_a": "title", "field_b": "subject"}],
    )
    with pytest.raises(Invalid) as error:
        mapping_add(deals, field_a="company", field_b="note")
    assert "means nothing" in str(error.value)
    mapping = mapping_add(deals, field_a="company", field_b="org")
    assert (mapping.reference, mapping.reference_via) == ("records", orgs)
    # The sync it follows cannot go while the mapping does.
    with pytest.raises(Refused) as refused:
        sync_delete(orgs)
    assert refused.value.code == "sync_followed"


def test_without_the_sync_it_follows_the_reason_names_the_missing_sync():
    ws = f.workspace()
    crm, desk = store_for("crm-lone"), store_for("desk-lone")
    crm.define("contacts", CONTACT)
    crm.define("companies", COMPANY)
    desk.define("users", USER)
    desk.define("orgs", ORG)
    with pytest.raises(Invalid) as error:
        sync_create(
            workspace=ws,
            name="contacts",
            connection_a=f.memory_connection(ws, crm),
            object_type_a="contacts",
            connection_b=f.memory_connection(ws, desk),
            object_type_b="users",
            mappings=CONTACT_MAPPINGS[:3],
        )
    assert error.value.field == "mappings.2"
    assert "no sync of this workspace joins those yet" in str(error.value)
    assert "companies" in str(error.value)
    assert "orgs" in str(error.value)


def test_a_conflict_on_a_reference_is_decided_in_each_sides_terms(world):
    _, crm, desk, _, orgs, contacts = world
    acme = crm.insert("companies", {"name": "Acme"})
    globex = crm.insert("companies", {"name": "Globex"})
    initech = crm.insert("companies", {"name": "Initech"})
    run(orgs)
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})
    run(contacts)
    user = _desk_user(desk, "ann@x.com")
    crm.edit("contacts", ann.id, {"company": globex.id})
    desk.edit("users", user.id, {"org": _org_of(orgs, initech.id)})
    run(contacts)
    conflict = Conflict.objects.get(status="open")

    conflict_decide(conflict, resolution="b")

    conflict.refresh_from_db()
    assert conflict.decided_values == {"a": initech.id, "b": _org_of(orgs, initech.id)}
    run(contacts)
    assert crm.record("contacts", ann.id).fields["company"] == initech.id


def test_a_run_that_links_the_referenced_record_asks_for_the_waiting_ones_at_once(world):
    """Through the run queue: the org sync's run links Acme, and asks for a run of the
    contact waiting for it (not the whole contact sync), which writes the field."""
    _, crm, desk, _, orgs, contacts = world
    acme = crm.insert("companies", {"name": "Acme"})
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})
    run_now(contacts)
    assert _desk_user(desk, "ann@x.com").fields.get("org") is None

    run_now(orgs)

    [follow_up] = SyncRun.objects.filter(sync=contacts, status="queued")
    assert (follow_up.trigger, follow_up.record_ids) == ("reference", {"a": [ann.id], "b": []})
    run_execute(follow_up.pk)
    assert _desk_user(desk, "ann@x.com").fields["org"] == _org_of(orgs, acme.id)
    assert not WaitingReference.objects.exists()
    run_now(orgs)  # nothing waits any more: nothing is asked for
    assert not SyncRun.objects.filter(sync=contacts, status="queued").exists()


def test_a_record_that_leaves_the_sync_waits_no_more(world):
    _, crm, desk, _, _, contacts = world
    acme = crm.insert("companies", {"name": "Acme"})
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})
    run(contacts)
    assert WaitingReference.objects.filter(sync=contacts).exists()
    desk.remove("users", _desk_user(desk, "ann@x.com").id)  # the delete policy unlinks

    run(contacts)

    assert not WaitingReference.objects.filter(sync=contacts).exists()


# --- creating the referenced record through its sync ---


def run_events(sync, action: str) -> list:
    """The events of `action` of the sync's latest run."""
    return events(SyncRun.objects.filter(sync=sync).latest("id"), action)


def _create_through_orgs(contacts) -> None:
    mapping = contacts.mappings.get(field_a="company")
    mapping.create_referenced = True
    mapping.save(update_fields=["create_referenced"])


def test_a_reference_can_create_the_record_it_names_through_its_sync_first(world):
    """The contact run leaves the field waiting and asks the org sync, once, for a run of
    just Acme; that run creates and links the org, and its follow-up writes the field."""
    _, crm, desk, _, orgs, contacts = world
    _create_through_orgs(contacts)
    acme = crm.insert("companies", {"name": "Acme"})
    crm.insert("companies", {"name": "Globex"})  # named by no contact: left to the org sync
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})
    crm.insert("contacts", {"email": "bob@x.com", "name": "Bob", "company": acme.id})

    run_now(contacts)

    assert _desk_user(desk, "ann@x.com").fields.get("org") is None  # never a raw crm id
    waits = run_events(contacts, "waiting")
    assert len(waits) == 2
    assert all("the sync 'orgs' is asked to create it" in e.message for e in waits)
    [asked] = SyncRun.objects.filter(sync=orgs, status="queued")
    assert (asked.trigger, asked.record_ids) == ("reference", {"a": [acme.id], "b": []})
    assert set(WaitingReference.objects.values_list("create", flat=True)) == {"asked"}

    run_execute(asked.pk)

    assert [o.fields["name"] for o in desk.all("orgs")] == ["Acme"]
    [follow_up] = SyncRun.objects.filter(sync=contacts, status="queued")
    assert follow_up.trigger == "reference"
    assert sorted(follow_up.record_ids["a"]) == sorted(
        c.id for c in crm.all("contacts") if c.fields["company"] == acme.id
    )
    run_execute(follow_up.pk)
    assert _desk_user(desk, "ann@x.com").fields["org"] == _org_of(orgs, acme.id)
    assert _desk_user(desk, "bob@x.com").fields["org"] == _org_of(orgs, acme.id)
    assert not WaitingReference.objects.exists()
    assert not SyncRun.objects.filter(status="queued").exists()
    crm.edit("contacts", ann.id, {"name": "Annie"})
    run_now(contacts)
    assert not SyncRun.objects.filter(status="queued").exists()  # nothing more to ask


def test_a_record_the_referenced_sync_filters_out_waits_with_the_reason_asked_once(world):
    _, crm, desk, _, orgs, contacts = world
    _create_through_orgs(contacts)
    Filter.objects.create(sync=orgs, side="a", field="name", operator="not_equals", value="Acme")
    acme = crm.insert("companies", {"name": "Acme"})
    initech = crm.insert("companies", {"name": "Initech"})
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})
    crm.insert("contacts", {"email": "bob@x.com", "name": "Bob", "company": initech.id})

    run_now(contacts)

    by_value = {e.changes["company"]["value"]: e.message for e in run_events(contacts, "waiting")}
    assert "not created through its sync" in by_value[acme.id]
    assert "filter of the sync 'orgs' (name not equals 'Acme') leaves it out" in by_value[acme.id]
    assert "is asked to create it" in by_value[initech.id]
    [asked] = SyncRun.objects.filter(sync=orgs, status="queued")
    assert asked.record_ids == {"a": [initech.id], "b": []}  # Acme is not asked for
    assert WaitingReference.objects.get(value=acme.id).create == "refused"
    run_execute(asked.pk)
    run_execute(SyncRun.objects.get(sync=contacts, status="queued").pk)

    # Ann keeps waiting; her edits are synced and never ask the org sync again.
    crm.edit("contacts", ann.id, {"name": "Annie"})
    run_now(contacts)
    crm.edit("contacts", ann.id, {"name": "Anne"})
    run_now(contacts)
    assert _desk_user(desk, "ann@x.com").fields["full_name"] == "Anne"
    assert _desk_user(desk, "ann@x.com").fields.get("org") is None
    assert _desk_user(desk, "bob@x.com").fields["org"] == _org_of(orgs, initech.id)
    assert not SyncRun.objects.filter(sync=orgs, status="queued").exists()
    assert SyncRun.objects.filter(sync=orgs).count() == 1
    [row] = WaitingReference.objects.all()
    assert (row.value, row.create) == (acme.id, "refused")


def test_a_referenced_sync_that_creates_nothing_that_way_is_never_asked(world):
    """One-way the other direction: the org sync writes only to the crm."""
    _, crm, _, _, orgs, contacts = world
    _create_through_orgs(contacts)
    orgs.mappings.update(direction="b_to_a")
    acme = crm.insert("companies", {"name": "Acme"})
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})

    run_now(contacts)

    [waiting] = run_events(contacts, "waiting")
    assert "no field mapping of the sync 'orgs' writes to B" in waiting.message
    assert not SyncRun.objects.filter(sync=orgs).exists()
