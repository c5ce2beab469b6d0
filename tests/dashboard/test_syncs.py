"""The syncs pages and the sync builder through the Django test client, against two
in-memory systems (tests/syncs/factories.py: "crm" contacts as side A, "desk" users as B).

Every step posts the whole step: htmx on each change (answered with the step alone, drawn
again with its problems), the step's buttons without JavaScript (answered with a redirect
to the next step when it is complete).
"""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import Role
from apps.syncs.models import Sync, SyncPreview
from apps.syncs.services import sync_update
from apps.syncs.transfer import sync_export
from connectors.memory.connector import reset_stores
from tests.factories import PASSWORD, MembershipFactory
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_stores():
    reset_stores()
    yield
    reset_stores()


class World:
    """An editor logged in to a workspace with two memory connections."""

    def __init__(self, client, role=Role.EDITOR):
        self.member = MembershipFactory(role=role, user__username=f"{role}@example.com")
        self.workspace = self.member.workspace
        self.crm, self.desk = f.stores()
        self.a = f.memory_connection(self.workspace, self.crm)
        self.b = f.memory_connection(self.workspace, self.desk)
        self.client = client
        client.login(username=self.member.user.username, password=PASSWORD)

    def sides(self, **extra):
        return {
            "name": "",
            "connection_a": str(self.a.public_id),
            "object_type_a": "contacts",
            "connection_b": str(self.b.public_id),
            "object_type_b": "users",
            **extra,
        }

    def sync(self, name: str | None = None, **kw):
        kw.setdefault("enabled", False)
        made = f.sync(self.workspace, self.crm, self.desk, **kw)
        if name is not None:
            Sync.objects.filter(pk=made.pk).update(name=name)
            made.refresh_from_db()
        return made

    def api(self) -> APIClient:
        _, raw = account_services.api_token_create(
            workspace=self.workspace, user=self.member.user, name="tests"
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client


@pytest.fixture
def world(client):
    return World(client)


def new_draft(world) -> str:
    """Start a new sync; the URL of its first step."""
    response = world.client.get("/syncs/new/")
    assert response.status_code == 302
    return response["Location"]


def step_url(url: str, step: str) -> str:
    return re.sub(r"/[a-z]+/$", f"/{step}/", url)


def at_fields(world) -> str:
    url = new_draft(world)
    response = world.client.post(url, {**world.sides(), "action": "next"})
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == step_url(url, "fields")
    return response["Location"]


def posted_mappings(html: str) -> dict[str, str]:
    """The fields step's form as the browser would post it (selected options, hidden
    inputs), from the page."""
    data: dict[str, str] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        data[name] = value
    for select in re.findall(r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        name, body = select
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    data.pop("csrfmiddlewaretoken", None)
    return data


def html(response) -> str:
    return response.content.decode()


# --- the list --------------------------------------------------------------------------------
def test_without_connections_the_empty_list_leads_to_the_connections(client):
    member = MembershipFactory(role=Role.EDITOR)
    client.login(username=member.user.username, password=PASSWORD)
    page = html(client.get("/syncs/"))
    assert "No syncs yet" in page
    assert 'href="/connections/"' in page


def test_the_empty_list_leads_to_a_new_sync(world):
    page = html(world.client.get("/syncs/"))
    assert "No syncs yet" in page
    assert page.count('href="/syncs/new/"') == 2  # the page head and the empty state


def test_the_list_shows_each_syncs_sides_state_last_run_and_an_edit_link(world):
    s = world.sync(name="Customers")
    world.sync(name="Paused", enabled=True)
    Sync.objects.filter(name="Paused").update(paused_reason="5 failures in a row")
    page = html(world.client.get("/syncs/"))
    assert f'{s.connection_a.name} <span class="muted">· contacts</span>' in page
    assert f'href="/syncs/{s.public_id}/edit/"' in page
    assert (
        f'href="/syncs/{s.public_id}/"' in page
    )  # its own page (tests/dashboard/test_sync_detail)
    assert '<span class="badge">off</span>' in page
    assert 'title="5 failures in a row">paused</span>' in page
    assert "never" in page


# --- step 1: sides ---------------------------------------------------------------------------
def test_choosing_a_connection_fills_its_object_types_in_place(world):
    url = new_draft(world)
    response = world.client.post(url, {"connection_a": str(world.a.public_id)}, **HTMX)
    page = html(response)
    assert response.status_code == 200
    assert "<html" not in page  # the step alone
    assert '<option value="contacts">Contacts (contacts)</option>' in page
    assert "choose" not in page  # nothing is wrong yet: it is not finished


def test_continuing_without_both_sides_says_what_to_choose_beside_each_field(world):
    url = new_draft(world)
    response = world.client.post(url, {"connection_a": str(world.a.public_id), "action": "next"})
    page = html(response)
    assert response.status_code == 200
    assert "choose what to sync on side A" in page
    assert "choose the connection of side B" in page


def test_a_taken_name_is_refused_beside_the_name(world):
    world.sync(name="Customers")
    response = world.client.post(
        new_draft(world), {**world.sides(name="Customers"), "action": "next"}
    )
    assert "a sync named &#x27;Customers&#x27; already exists" in html(response)


# --- step 2: fields --------------------------------------------------------------------------
def test_the_fields_step_shows_suggested_rows_with_types_and_badges(world):
    page = html(world.client.get(at_fields(world)))
    form = posted_mappings(page)
    assert [(form[f"m-{i}-field_a"], form[f"m-{i}-field_b"]) for i in range(6)] == [
        ("email", "email"),
        ("phone", "phone"),
        ("score", "score"),
        ("vip", "vip"),
        ("renewal", "renewal"),
        ("owner", "owner"),
    ]
    assert '<span class="badge info">required</span>' in page
    assert "These rows are suggestions" in page


def test_an_incompatible_pair_is_explained_on_its_row_as_soon_as_it_is_chosen(world):
    url = at_fields(world)
    form = posted_mappings(html(world.client.get(url)))
    form["m-3-field_b"] = "renewal"  # vip (yes/no) with a date-time
    response = world.client.post(url, form, **HTMX)
    page = html(response)
    row = page.split('id="mapping-3"')[1].split("</li>")[0]
    assert "incompatible types: A.vip is boolean, B.renewal is datetime" in row
    assert 'class="mapping has-error"' in page


def test_a_read_only_target_is_refused_beside_the_direction(world):
    url = at_fields(world)
    form = posted_mappings(html(world.client.get(url)))
    form.update({"m-0-field_b": "ticket_count"})
    page = html(world.client.post(url, form, **HTMX))
    row = page.split('id="mapping-0"')[1].split("</li>")[0]
    direction = row.split('id="m-0-direction"')[1].split("</div>")[0]
    assert "B.ticket_count is read-only, so it cannot receive values" in direction


def test_rows_are_added_and_removed(world):
    url = at_fields(world)
    form = posted_mappings(html(world.client.get(url)))
    page = html(world.client.post(url, {**form, "action": "add-mapping"}, **HTMX))
    assert 'name="m-total" value="7"' in page
    assert "choose a field" not in page  # a new row is not wrong, only not finished
    form = posted_mappings(page)
    page = html(world.client.post(url, {**form, "action": "remove-mapping-0"}, **HTMX))
    assert posted_mappings(page)["m-0-field_a"] == "phone"
    assert 'name="m-total" value="6"' in page


def test_an_enum_pair_opens_its_value_map_with_unmapped_options_highlighted(world):
    url = at_fields(world)
    form = posted_mappings(html(world.client.get(url)))
    form.update({"m-0-field_a": "status", "m-0-field_b": "state"})
    page = html(world.client.post(url, form, **HTMX))
    row = page.split('id="mapping-0"')[1].split("</li>")[0]
    assert '<details class="value-map" open' in row
    assert row.count('<tr class="unmapped">') == 4  # open, closed -> ?; To Do, Done -> ?
    assert "Open</label> <code>open</code>" in row
    assert '<option value="Done">Done (Done)</option>' in row  # B's options beside A's
    # The editor maps every option: the row works, nothing is highlighted.
    form = posted_mappings(page)
    form.update({"m-0-vm-a_to_b-0": "To Do", "m-0-vm-a_to_b-1": "Done"})
    form.update({"m-0-vm-b_to_a-0": "open", "m-0-vm-b_to_a-1": "closed"})
    page = html(world.client.post(url, form, **HTMX))
    row = page.split('id="mapping-0"')[1].split("</li>")[0]
    assert "unmapped" not in row
    assert "every option mapped" in row
    assert "has-error" not in row


def test_continuing_with_a_broken_row_stays_on_the_step(world):
    url = at_fields(world)
    form = posted_mappings(html(world.client.get(url)))
    form["m-3-field_b"] = "renewal"
    response = world.client.post(url, {**form, "action": "next"})
    assert response.status_code == 200
    assert "incompatible types" in html(response)
    response = world.client.post(url, {**form, "action": "next"}, **HTMX)
    assert "HX-Redirect" not in response


def test_reading_the_fields_again_asks_the_systems(world):
    url = at_fields(world)
    before = world.crm.calls["fields"]
    world.client.get(step_url(url, "scope"))
    assert world.crm.calls["fields"] == before  # the draft's copy
    form = posted_mappings(html(world.client.get(url)))
    world.client.post(url, {**form, "action": "refresh"}, **HTMX)
    assert world.crm.calls["fields"] == before + 1


# --- step 3: scope and rules -----------------------------------------------------------------
def scope_form(**extra):
    return {
        "f-total": "0",
        "r-total": "1",
        "r-0-a": "email",
        "r-0-b": "email",
        "r-0-normalise": "email",
        "conflict_policy": "manual",
        "initial_policy": "conflict",
        "delete_policy": "unlink",
        "comments": "off",
        "safety_limit_count": "500",
        "safety_limit_share": "50",
        "interval_seconds": "300",
        **extra,
    }


def test_a_filter_offers_the_operators_its_fields_kind_allows(world):
    url = step_url(at_fields(world), "scope")
    page = html(world.client.post(url, scope_form(action="add-filter-a"), **HTMX))
    assert 'name="f-total" value="1"' in page
    page = html(
        world.client.post(
            url, scope_form(**{"f-total": "1", "f-0-side": "a", "f-0-field": "vip"}), **HTMX
        )
    )
    operators = re.findall(
        r'<option value="(\w+)"', page.split('id="f-0-operator"')[1].split("</select>")[0]
    )
    assert operators == ["equals", "not_equals", "empty", "not_empty"]
    assert '<option value="true"' in page  # yes / no


def test_a_filter_value_the_field_cannot_hold_is_explained_on_its_row(world):
    url = step_url(at_fields(world), "scope")
    data = scope_form(
        **{
            "f-total": "1",
            "f-0-side": "a",
            "f-0-was": "score",
            "f-0-field": "score",
            "f-0-operator": "greater",
            "f-0-value": "lots",
        }
    )
    page = html(world.client.post(url, data, **HTMX))
    assert "the filter on score: &#x27;lots&#x27; is not a number" in page


def test_rules_answer_beside_the_field_and_keep_what_was_typed(world):
    url = step_url(at_fields(world), "scope")
    page = html(world.client.post(url, scope_form(safety_limit_share="150"), **HTMX))
    assert "Ensure this value is less than or equal to 100." in page
    assert 'value="150"' in page


# --- step 4: review and save -----------------------------------------------------------------
def test_the_review_lists_what_keeps_the_sync_from_being_saved_with_links(world):
    url = step_url(new_draft(world), "review")
    page = html(world.client.get(url))
    assert "The sync cannot be saved yet" in page
    assert "choose the connection of side A" in page
    assert f'href="{step_url(url, "sides")}"' in page
    assert re.search(r"<button type=\"submit\" disabled>Save the sync</button>", page)


def test_a_new_sync_is_saved_switched_off_and_its_preview_starts(world):
    url = at_fields(world)
    world.client.post(step_url(url, "scope"), scope_form(interval_seconds="3600"))
    draft_id = url.split("/")[-3]
    response = world.client.post(f"/syncs/build/{draft_id}/save/")
    sync = Sync.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/syncs/{sync.public_id}/review/"
    assert (sync.enabled, sync.interval_seconds, sync.mappings.count()) == (False, 3600, 6)
    preview = SyncPreview.objects.get(sync=sync)
    page = html(world.client.get(response["Location"]))
    assert "Saved. The sync stays off until you enable it" in page
    assert f'hx-get="/previews/{preview.public_id}/"' in page  # polls until done
    # The draft is gone once saved.
    assert world.client.get(url).status_code == 404


def test_enable_and_disable(world):
    s = world.sync()
    response = world.client.post(f"/syncs/{s.public_id}/enable/")
    assert response.status_code == 302
    s.refresh_from_db()
    assert s.enabled
    assert s.next_run_at is not None
    assert "its first run starts within a few seconds" in html(
        world.client.get(response["Location"])
    )
    world.client.post(f"/syncs/{s.public_id}/disable/")
    s.refresh_from_db()
    assert not s.enabled


# --- editing ---------------------------------------------------------------------------------
def test_a_sync_made_through_the_api_is_edited_in_the_browser(world):
    api = world.api()
    created = api.post(
        "/api/v1/syncs/",
        {
            "name": "From a script",
            "connection_a": str(world.a.public_id),
            "object_type_a": "contacts",
            "connection_b": str(world.b.public_id),
            "object_type_b": "users",
            "mappings": [
                {"field_a": "email", "field_b": "email"},
                {"field_a": "region", "field_b": "notes", "direction": "a_to_b", "default_b": "-"},
                f.STATUS_MAPPING,
            ],
            "filters": [{"side": "a", "field": "vip", "operator": "equals", "value": True}],
            "match_rule": [{"a": "email", "b": "email"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    sync = Sync.objects.get(public_id=created.json()["id"])
    before = sync_export(sync)

    response = world.client.get(f"/syncs/{sync.public_id}/edit/")
    url = response["Location"]
    page = html(world.client.get(url))
    form = posted_mappings(page)
    assert (form["m-2-field_a"], form["m-2-field_b"]) == ("status", "state")
    assert "every option mapped" in page
    # Untouched, the review says nothing changes.
    world.client.post(url, form, **HTMX)
    assert "Nothing changes." in html(world.client.get(step_url(url, "review")))
    # One changed direction: the review says what it does, saving does it.
    form["m-0-direction"] = "a_to_b"
    world.client.post(url, form, **HTMX)
    review = html(world.client.get(step_url(url, "review")))
    assert "email -&gt; email changes (direction both to a to b)" in review
    response = world.client.post(f"/syncs/build/{url.split('/')[-3]}/save/")
    assert response.status_code == 302

    after = api.get(f"/api/v1/syncs/{sync.public_id}/export/").json()
    assert after["mappings"][0]["direction"] == "a_to_b"
    assert {**after, "mappings": before["mappings"]} == before  # nothing else moved
    assert after["mappings"][1:] == before["mappings"][1:]


def test_a_sync_built_in_the_browser_is_read_and_changed_through_the_api(world):
    url = at_fields(world)
    world.client.post(step_url(url, "scope"), scope_form())
    world.client.post(f"/syncs/build/{url.split('/')[-3]}/save/")
    sync = Sync.objects.get()
    api = world.api()
    document = api.get(f"/api/v1/syncs/{sync.public_id}/export/").json()
    assert document["connection_a"] == world.a.name
    assert [m["field_a"] for m in document["mappings"]][:2] == ["email", "phone"]
    changed = api.patch(f"/api/v1/syncs/{sync.public_id}/", {"interval_seconds": 60}, format="json")
    assert changed.status_code == 200
    edit = world.client.get(f"/syncs/{sync.public_id}/edit/")["Location"]
    assert '<option value="60" selected>minute</option>' in html(
        world.client.get(step_url(edit, "scope"))
    )


def test_saving_over_a_change_made_meanwhile_is_refused_and_says_why(world):
    s = world.sync()
    url = world.client.get(f"/syncs/{s.public_id}/edit/")["Location"]
    sync_update(s, interval_seconds=60)  # through the API, say
    response = world.client.post(f"/syncs/build/{url.split('/')[-3]}/save/")
    assert response.status_code == 400
    assert "this sync was changed since you opened it" in html(response)
    s.refresh_from_db()
    assert s.interval_seconds == 60


def test_the_sides_of_a_saved_sync_cannot_change(world):
    s = world.sync(name="Customers")
    url = step_url(world.client.get(f"/syncs/{s.public_id}/edit/")["Location"], "sides")
    page = html(world.client.get(url))
    assert re.search(r'<select name="connection_a"[^>]*disabled', page)
    other = f.memory_connection(world.workspace, world.crm)
    world.client.post(url, {**world.sides(connection_b=str(other.public_id)), "name": "Renamed"})
    draft = world.client.session["sync_drafts"][url.split("/")[-3]]["draft"]
    assert (draft["connection_b"], draft["name"]) == (str(s.connection_b.public_id), "Renamed")


def test_fields_that_cannot_be_read_say_why_and_offer_to_read_again(world):
    s = world.sync()
    url = world.client.get(f"/syncs/{s.public_id}/edit/")["Location"]
    reset_stores()  # the systems lost their object types
    page = html(world.client.get(url))
    assert "has no object type &#x27;contacts&#x27; (it has: none)" in page
    assert "could not be read" in page
    assert 'value="refresh"' in page


# --- roles and workspaces --------------------------------------------------------------------
def test_a_viewer_sees_every_page_with_its_controls_off_and_cannot_post(client):
    viewer = World(client, role=Role.VIEWER)
    s = viewer.sync()
    page = html(client.get("/syncs/"))
    assert (
        'role="link" aria-disabled="true" title="Your role can look but not create syncs">New sync'
        in page
    )
    assert ">View</a>" in page
    url = client.get(f"/syncs/{s.public_id}/edit/")["Location"]
    for step in ("sides", "fields", "scope"):
        page = html(client.get(step_url(url, step)))
        assert '<fieldset class="plain" disabled>' in page
        assert "hx-post" not in page
        assert "your role in" in page
    assert "disabled>Save changes</button>" in html(client.get(step_url(url, "review")))
    draft_id = url.split("/")[-3]
    refused = [
        client.post(url, {"action": "add-mapping"}),
        client.post(f"/syncs/build/{draft_id}/save/"),
        client.post(f"/syncs/{s.public_id}/enable/"),
        client.post(f"/syncs/{s.public_id}/disable/"),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    s.refresh_from_db()
    assert not s.enabled
    review = html(client.get(f"/syncs/{s.public_id}/review/"))
    assert re.search(r"<button[^>]*disabled[^>]*>\s*Enable|Enable</button>", review)


def test_another_workspaces_syncs_do_not_exist(world):
    ws = f.workspace("Other")
    crm, desk = f.stores()
    foreign = f.sync(ws, crm, desk)
    for path in ("edit", "review"):
        assert world.client.get(f"/syncs/{foreign.public_id}/{path}/").status_code == 404
    assert world.client.post(f"/syncs/{foreign.public_id}/enable/").status_code == 404


def test_a_gone_draft_says_what_to_do(world):
    response = world.client.get("/syncs/build/0123abcd/fields/")
    assert response.status_code == 404
    assert "This draft is gone" in html(response)
    assert 'href="/syncs/new/"' in html(response)
