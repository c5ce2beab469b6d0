"""Two in-memory systems with references between their object types, and the two syncs
that join them (tests/syncs/test_references.py describes the world)."""

from __future__ import annotations

from typing import Any

from apps.syncs.services import sync_create
from connectors.base import FieldSpec, FieldType
from connectors.memory.connector import store_for
from tests.syncs import factories as f

COMPANY = [FieldSpec("name", "Name", FieldType.STRING)]
CONTACT = [
    FieldSpec("email", "Email", FieldType.EMAIL, required=True),
    FieldSpec("name", "Name", FieldType.STRING),
    FieldSpec("company", "Company", FieldType.REFERENCE, reference_to="companies"),
    FieldSpec("owner", "Owner", FieldType.USER),
    FieldSpec("note", "Note", FieldType.STRING),
]
ORG = [FieldSpec("name", "Name", FieldType.STRING)]
USER = [
    FieldSpec("email", "Email", FieldType.EMAIL, required=True),
    FieldSpec("full_name", "Full name", FieldType.STRING),
    FieldSpec("org", "Organization", FieldType.REFERENCE, reference_to="orgs"),
    FieldSpec("agent", "Agent", FieldType.REFERENCE, reference_to="agents"),
    FieldSpec("note", "Note", FieldType.STRING),
]
AGENT = [
    FieldSpec("email", "Email", FieldType.EMAIL),
    FieldSpec("name", "Name", FieldType.STRING),
]
CONTACT_MAPPINGS = [
    {"field_a": "email", "field_b": "email"},
    {"field_a": "name", "field_b": "full_name"},
    {"field_a": "company", "field_b": "org"},
    {"field_a": "owner", "field_b": "agent"},
]


def build() -> tuple[Any, ...]:
    """(workspace, crm, desk, connections, org sync, contact sync)."""
    ws = f.workspace()
    crm, desk = store_for("crm-refs"), store_for("desk-refs")
    crm.define("companies", COMPANY)
    crm.define("contacts", CONTACT)
    desk.define("orgs", ORG)
    desk.define("users", USER)
    desk.define("agents", AGENT, people=True)
    conn_crm, conn_desk = f.memory_connection(ws, crm), f.memory_connection(ws, desk)
    common = {"safety_limit_share": None, "safety_limit_count": None, "enabled": True}
    orgs = sync_create(
        workspace=ws,
        name="orgs",
        connection_a=conn_crm,
        object_type_a="companies",
        connection_b=conn_desk,
        object_type_b="orgs",
        mappings=[{"field_a": "name", "field_b": "name"}],
        match_rule=[{"a": "name", "b": "name"}],
        **common,
    )
    contacts = sync_create(
        workspace=ws,
        name="contacts",
        connection_a=conn_crm,
        object_type_a="contacts",
        connection_b=conn_desk,
        object_type_b="users",
        mappings=CONTACT_MAPPINGS,
        match_rule=[{"a": "email", "b": "email"}],
        **common,
    )
    return ws, crm, desk, (conn_crm, conn_desk), orgs, contacts
