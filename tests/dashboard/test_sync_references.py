"""The sync builder's fields step with reference fields (Django test client, two in-memory
systems): a reference says what it points to, and a row mapping one says why it cannot be
mapped until a sync joins what the two fields point to, then takes it."""

from __future__ import annotations

import pytest

from apps.syncs.services import sync_create
from connectors.base import FieldSpec, FieldType
from tests.dashboard.test_syncs import HTMX, World, at_fields, html, posted_mappings
from tests.syncs.factories import CRM_FIELDS, DESK_FIELDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client):
    world = World(client)
    world.crm.define(
        "contacts",
        [*CRM_FIELDS, FieldSpec("company", "Company", FieldType.REFERENCE, reference_to="firms")],
    )
    world.crm.define("firms", [FieldSpec("name", "Name", FieldType.STRING)])
    world.desk.define(
        "users", [*DESK_FIELDS, FieldSpec("org", "Org", FieldType.REFERENCE, reference_to="orgs")]
    )
    world.desk.define("orgs", [FieldSpec("name", "Name", FieldType.STRING)])
    return world


def _row(page: str, index: int) -> str:
    return page.split(f'id="mapping-{index}"')[1].split("</li>")[0]


def test_a_reference_row_says_why_it_waits_for_a_sync_then_takes_it(world):
    url = at_fields(world)
    form = posted_mappings(html(world.client.get(url)))
    form.update({"m-0-field_a": "company", "m-0-field_b": "org"})

    row = _row(html(world.client.post(url, form, **HTMX)), 0)

    assert "refers to firms" in row
    assert "refers to orgs" in row
    assert "no sync of this workspace joins those yet" in row
    assert "create that sync first" in row

    sync_create(
        workspace=world.workspace,
        name="firms and orgs",
        connection_a=world.a,
        object_type_a="firms",
        connection_b=world.b,
        object_type_b="orgs",
        mappings=[{"field_a": "name", "field_b": "name"}],
    )
    row = _row(html(world.client.post(url, form, **HTMX)), 0)
    assert 'role="alert"' not in row


def test_a_reference_to_a_plain_field_is_refused_on_its_row(world):
    url = at_fields(world)
    form = posted_mappings(html(world.client.get(url)))
    form.update({"m-0-field_a": "company", "m-0-field_b": "notes"})
    row = _row(html(world.client.post(url, form, **HTMX)), 0)
    assert "holds the id of a record of firms" in row
    assert "means nothing on" in row
