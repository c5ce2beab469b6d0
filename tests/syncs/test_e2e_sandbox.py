"""End to end: HubSpot contacts <-> Zendesk users through the real connectors, over HTTP
against the sandbox server, both ways, with a conflict opened and resolved."""

from __future__ import annotations

import pytest

from apps.connections.services import connection_create, connector_for
from apps.runs.execution import run_execute
from apps.syncs.conflicts import conflict_decide
from apps.syncs.models import Conflict, RecordLink
from apps.syncs.services import sync_create
from connectors.base import Record, RecordUpdate
from connectors.hubspot.sandbox import contract as hubspot_contract
from connectors.zendesk.sandbox import contract as zendesk_contract
from tests.running import events, run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def _get(connection, object_type: str, record_id: str) -> Record:
    connector = connector_for(connection)
    try:
        (record,) = connector.get(object_type, [record_id])
    finally:
        connector.close()
    return record


def _update(connection, object_type: str, record_id: str, **fields) -> None:
    connector = connector_for(connection)
    try:
        (result,) = connector.update(object_type, [RecordUpdate(record_id, fields)])
    finally:
        connector.close()
    assert result.ok, result.error


def _create(connection, object_type: str, **fields) -> Record:
    connector = connector_for(connection)
    try:
        (result,) = connector.create(object_type, [fields])
    finally:
        connector.close()
    assert result.ok, result.error
    return result.record


def test_hubspot_and_zendesk_sync_both_ways_with_a_conflict_resolved(sandbox):
    ws = f.workspace()
    hubspot = connection_create(
        workspace=ws,
        name="HubSpot",
        kind="hubspot",
        values=hubspot_contract().config(sandbox.url_for("hubspot")),
    )
    zendesk = connection_create(
        workspace=ws,
        name="Zendesk",
        kind="zendesk",
        values=zendesk_contract().config(sandbox.url_for("zendesk")),
    )
    sync = sync_create(
        workspace=ws,
        name="contacts",
        connection_a=hubspot,
        object_type_a="contacts",
        connection_b=zendesk,
        object_type_b="users",
        mappings=[
            {"field_a": "email", "field_b": "email"},
            {"field_a": "firstname", "field_b": "name", "default_b": "(no name)"},
            {"field_a": "phone", "field_b": "phone"},
        ],
        filters=[{"side": "b", "field": "role", "operator": "equals", "value": "end-user"}],
        match_rule=[{"a": "email", "b": "email"}],
        initial_policy="a_wins",
        safety_limit_share=None,
        safety_limit_count=None,
    )

    first = run_now(sync)
    assert first.status == "succeeded", first.error
    link = RecordLink.objects.filter(sync=sync, status="linked").first()
    assert link is not None
    quiet = run_now(sync)
    assert quiet.status == "succeeded"
    assert events(quiet) == []

    # A -> B and a conflict: HubSpot edits the phone and first name, Zendesk the name.
    _update(hubspot, "contacts", link.a_id, phone="+1 555 0100", firstname="Annie")
    _update(zendesk, "users", link.b_id, name="Anna")
    run = run_now(sync, trigger="webhook", record_ids={"a": [link.a_id], "b": [link.b_id]})
    assert run.status == "succeeded", run.error
    assert _get(zendesk, "users", link.b_id).fields["phone"] == "+1 555 0100"
    conflict = Conflict.objects.get(link=link, status="open")
    assert (conflict.value_a, conflict.value_b) == ("Annie", "Anna")

    decider = f.user()
    applying = conflict_decide(conflict, resolution="custom", custom_value="Anne", user=decider)
    assert _get(hubspot, "contacts", link.a_id).fields["firstname"] == "Annie"  # not yet
    assert run_execute(applying.pk) == "succeeded"
    assert _get(hubspot, "contacts", link.a_id).fields["firstname"] == "Anne"
    assert _get(zendesk, "users", link.b_id).fields["name"] == "Anne"
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolved_by) == ("resolved", decider)
    echo = run_now(sync, trigger="webhook", record_ids={"a": [link.a_id], "b": [link.b_id]})
    assert events(echo) == []

    # B -> A: a new Zendesk end user is created in HubSpot.
    user = _create(zendesk, "users", name="Zed", email="zed@example.com", role="end-user")
    created = run_now(sync, trigger="webhook", record_ids={"b": [user.id]})
    [event] = events(created, "created")
    assert (event.side, event.record_id_b) == ("a", user.id)
    contact = _get(hubspot, "contacts", event.record_id_a)
    assert (contact.fields["email"], contact.fields["firstname"]) == ("zed@example.com", "Zed")
