"""The conflict review screen through the Django test client, against two in-memory
systems (tests/syncs/factories.py: "crm" contacts as side A, "desk" users as B).

Conflicts are made the way they happen: a run links the records, both sides change the
same field differently, the next run opens the conflict. Decisions are written by a run
executed in-process, as a worker would (apps.runs.execution.run_execute).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Role
from apps.runs.execution import run_execute
from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.models import Conflict
from connectors.memory.connector import reset_stores
from tests.factories import PASSWORD, MembershipFactory
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
MAPPINGS = [*f.BASIC_MAPPINGS, {"field_a": "score", "field_b": "score"}]


@pytest.fixture(autouse=True)
def _fresh_stores():
    reset_stores()
    yield
    reset_stores()


class World:
    """A workspace with a sync between two memory systems, and a member logged in."""

    def __init__(self, client, role=Role.EDITOR, name="Acme"):
        self.member = MembershipFactory(
            role=role, user__username=f"{role}-{name}@example.com", workspace__name=name
        )
        self.workspace = self.member.workspace
        self.crm, self.desk = f.stores()
        self.sync = f.sync(self.workspace, self.crm, self.desk, mappings=MAPPINGS)
        self.client = client
        client.login(username=self.member.user.username, password=PASSWORD)

    def conflict(self, email: str, *, a: dict, b: dict, base: dict | None = None) -> Conflict:
        """A linked pair (email, name Base, score 1) whose fields both sides then changed."""
        record = self.crm.insert(
            "contacts", {"email": email, "name": "Base", "score": 1, **(base or {})}
        )
        run_now(self.sync)
        other = next(r for r in self.desk.all("users") if r.fields["email"] == email)
        self.crm.edit("contacts", record.id, a)
        self.desk.edit("users", other.id, b)
        run_now(self.sync, trigger="webhook", record_ids={"a": [record.id]})
        return Conflict.objects.filter(link__a_id=record.id, status="open").latest("id")

    def names(self, email: str, a="From A", b="From B") -> Conflict:
        return self.conflict(email, a={"name": a}, b={"full_name": b})


def order(html: str, conflicts) -> list[int]:
    """The conflicts in the order the page shows them (indexes into `conflicts`)."""
    found = [(html.find(f'id="conflict-{c.public_id}"'), i) for i, c in enumerate(conflicts)]
    return [i for pos, i in sorted(found) if pos >= 0]


def card(html: str, conflict: Conflict) -> str:
    start = html.rindex("<article", 0, html.index(f'id="conflict-{conflict.public_id}"'))
    return html[start : html.index("</article>", start)]


@pytest.fixture
def world(client):
    return World(client)


def test_the_queue_shows_open_conflicts_of_every_sync_oldest_first(world, client):
    first = world.names("ann@x.com")
    second = world.conflict("bob@x.com", a={"score": 5}, b={"score": "6"})
    third = world.names("cid@x.com")
    # Older first, whatever the order they were found in.
    Conflict.objects.filter(pk=third.pk).update(detected_at=timezone.now() - timedelta(hours=3))
    other_sync = f.sync(world.workspace, *f.stores(), mappings=MAPPINGS)
    assert other_sync.workspace == world.workspace

    page = client.get("/conflicts/")

    assert page.status_code == 200
    html = page.content.decode()
    assert order(html, [first, second, third]) == [2, 0, 1]
    ann = card(html, first)
    # Both records side by side: identified by their last agreed values, the two competing
    # values, the last agreed one, when each changed and that the system does not say who.
    assert "ann@x.com" in ann
    assert "From A" in ann
    assert "From B" in ann
    assert "Base" in ann
    assert ann.count("does not say who") == 2
    assert f"/runs/records/{world.sync.public_id}/a/{first.link.a_id}/" in ann
    assert f"/runs/records/{world.sync.public_id}/b/{first.link.b_id}/" in ann
    assert f"/syncs/{world.sync.public_id}/" in ann
    # The navigation counts them.
    assert re.search(r'class="nav-count"[^>]*>3<', html)

    # Filters: by field (either side's name), by sync.
    by_b_name = client.get("/conflicts/", {"field": "full_name"}).content.decode()
    assert order(by_b_name, [first, second, third]) == [2, 0]
    by_a_name = client.get("/conflicts/", {"field": "score"}).content.decode()
    assert order(by_a_name, [first, second, third]) == [1]
    elsewhere = client.get("/conflicts/", {"sync": str(other_sync.public_id)}).content.decode()
    assert order(elsewhere, [first, second, third]) == []
    assert "No open conflicts match" in elsewhere
    # htmx asks for the queue alone.
    part = client.get("/conflicts/", {"field": "score"}, HTTP_HX_TARGET="queue", **HTMX)
    assert part.content.decode().lstrip().startswith('<div id="queue">')


def test_deciding_with_b_shows_pending_then_resolved(world, client):
    conflict = world.names("ann@x.com")

    answer = client.post(
        f"/conflicts/{conflict.public_id}/decide/", {"choice": "b", "in": "list"}, **HTMX
    )

    assert answer.status_code == 200
    html = answer.content.decode()
    assert "state-pending" in html
    assert 'hx-trigger="every 1s"' in html  # the card polls until the run wrote it
    assert "chose B's value" in html
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolution) == ("decided", "b")
    assert conflict.decided_by == world.member.user
    run = SyncRun.objects.get(trigger="resolution")
    assert run_execute(run.pk) == SyncRun.Status.SUCCEEDED

    polled = client.get(f"/conflicts/{conflict.public_id}/", {"part": "card"}, **HTMX)
    html = polled.content.decode()
    assert "state-resolved" in html
    assert "every 1s" not in html
    assert world.member.user.username in html
    assert world.crm.record("contacts", conflict.link.a_id).fields["name"] == "From B"
    assert world.desk.record("users", conflict.link.b_id).fields["full_name"] == "From B"
    # The full page links the run that found it and the run that wrote it.
    detail = client.get(f"/conflicts/{conflict.public_id}/").content.decode()
    opened = SyncEvent.objects.get(action="conflict", record_id_a=conflict.link.a_id).run
    assert f"/runs/{opened.public_id}/" in detail
    assert f"/runs/{run.public_id}/" in detail


def test_deciding_with_a_without_javascript_redirects_back(world, client):
    conflict = world.names("ann@x.com")
    answer = client.post(
        f"/conflicts/{conflict.public_id}/decide/", {"choice": "a", "next": "/conflicts/"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/conflicts/"
    conflict.refresh_from_db()
    assert (conflict.status, conflict.decided_values) == ("decided", {"a": "From A", "b": "From A"})


def test_a_typed_value_is_checked_for_both_systems_before_it_is_accepted(world, client):
    conflict = world.conflict("ann@x.com", a={"score": 5}, b={"score": "6"})
    url = f"/conflicts/{conflict.public_id}/decide/"

    refused = client.post(url, {"choice": "custom", "value": "lots"}, **HTMX)

    html = refused.content.decode()
    error = re.search(rf'<p class="error" id="value-{conflict.public_id}-error">(.*?)</p>', html)
    assert error is not None
    assert "cannot be used" in error.group(1)
    assert 'aria-invalid="true"' in html
    assert 'value="lots"' in html  # what was typed stays
    conflict.refresh_from_db()
    assert conflict.status == "open"
    assert not SyncRun.objects.filter(trigger="resolution").exists()
    empty = client.post(url, {"choice": "custom", "value": "  "}, **HTMX).content.decode()
    assert "Type the value to write to both sides." in empty
    without_js = client.post(url, {"choice": "custom", "value": "lots"})
    assert without_js.status_code == 400
    assert "cannot be used" in without_js.content.decode()

    accepted = client.post(url, {"choice": "custom", "value": "7"}, **HTMX)

    assert "state-pending" in accepted.content.decode()
    run_execute(SyncRun.objects.get(trigger="resolution").pk)
    assert world.crm.record("contacts", conflict.link.a_id).fields["score"] == 7
    assert world.desk.record("users", conflict.link.b_id).fields["score"] == "7"
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolution, conflict.custom_value) == (
        "resolved",
        "custom",
        7,
    )


def test_several_conflicts_are_decided_at_once_by_selection(world, client):
    conflicts = [world.names(f"p{i}@x.com", b=f"B{i}") for i in range(3)]
    picked = [str(c.public_id) for c in conflicts[:2]]

    answer = client.post(
        "/conflicts/decide/",
        {"choice": "b", "scope": "selected", "ids": [*picked, "not-a-uuid"], "tab": "open"},
        **HTMX,
    )

    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Decided 2 with B&#x27;s value" in html
    assert [Conflict.objects.get(pk=c.pk).status for c in conflicts] == [
        "decided",
        "decided",
        "open",
    ]
    assert "state-pending" in card(html, conflicts[0])
    assert SyncRun.objects.filter(trigger="resolution").count() == 1  # one run per sync
    run_execute(SyncRun.objects.get(trigger="resolution").pk)
    assert [Conflict.objects.get(pk=c.pk).status for c in conflicts] == [
        "resolved",
        "resolved",
        "open",
    ]
    names = {r.fields["email"]: r.fields["name"] for r in world.crm.all("contacts")}
    assert names == {"p0@x.com": "B0", "p1@x.com": "B1", "p2@x.com": "From A"}


def test_all_conflicts_of_a_field_in_a_sync_are_decided_at_once(world, client):
    names = [world.names(f"p{i}@x.com") for i in range(3)]
    score = world.conflict("q@x.com", a={"score": 5}, b={"score": "6"})
    filtered = client.get(
        "/conflicts/", {"sync": str(world.sync.public_id), "field": "name"}
    ).content.decode()
    assert "All <strong>3</strong> open conflicts of <strong>name</strong>" in filtered

    answer = client.post(
        "/conflicts/decide/",
        {"choice": "a", "scope": "field", "sync": str(world.sync.public_id), "field": "name"},
        **HTMX,
    )

    assert "Decided 3 with A&#x27;s value" in answer.content.decode()
    assert {Conflict.objects.get(pk=c.pk).status for c in names} == {"decided"}
    assert Conflict.objects.get(pk=score.pk).status == "open"


def test_a_bulk_decision_shows_each_refusal_on_its_conflict(world, client):
    fine, taken = world.names("a@x.com"), world.names("b@x.com")
    client.post(f"/conflicts/{taken.public_id}/decide/", {"choice": "a"}, **HTMX)

    answer = client.post(
        "/conflicts/decide/",
        {"choice": "b", "scope": "selected", "ids": [str(fine.public_id), str(taken.public_id)]},
        **HTMX,
    )

    html = answer.content.decode()
    assert "1 could not be decided" in html
    assert "Not decided:" in card(html, taken)
    assert "already decided" in card(html, taken)
    assert "Not decided:" not in card(html, fine)
    assert Conflict.objects.get(pk=taken.pk).resolution == "a"  # the first decision stands


def test_a_systems_refusal_is_shown_on_the_conflict_which_stays_open(world, client):
    conflict = world.names("ann@x.com")
    world.desk.fail("update", message="name locked by an admin")
    client.post(f"/conflicts/{conflict.public_id}/decide/", {"choice": "a"}, **HTMX)
    run = SyncRun.objects.get(trigger="resolution")
    run_execute(run.pk)

    html = client.get(f"/conflicts/{conflict.public_id}/").content.decode()

    conflict.refresh_from_db()
    assert conflict.status == "open"
    assert "state-refused" in html
    assert "The decision was not written" in html
    assert "name locked by an admin" in html
    assert f'Refused in <a href="/runs/{run.public_id}/">' in html
    assert 'name="choice" value="a"' in html  # it can be decided again
    queue = client.get("/conflicts/").content.decode()
    assert "name locked by an admin" in card(queue, conflict)


def test_resolved_conflicts_stay_searchable_with_their_decision(world, client):
    kept = world.names("ann@x.com", a="Annabel", b="Anna")
    other = world.names("bob@x.com")
    client.post(f"/conflicts/{kept.public_id}/decide/", {"choice": "a"}, **HTMX)
    run_execute(SyncRun.objects.get(trigger="resolution").pk)
    assert Conflict.objects.get(pk=kept.pk).status == "resolved"

    open_tab = client.get("/conflicts/").content.decode()
    assert order(open_tab, [kept, other]) == [1]
    for search in ("Anna", kept.link.b_id, "full_name"):
        found = client.get("/conflicts/", {"tab": "resolved", "q": search}).content.decode()
        assert order(found, [kept, other]) == [0], search
        assert "both systems hold <strong>Annabel</strong>" in found
        assert world.member.user.username in card(found, kept)
    nothing = client.get("/conflicts/", {"tab": "resolved", "q": "Zebra"}).content.decode()
    assert order(nothing, [kept, other]) == []
    assert "No resolved conflicts match" in nothing


def test_a_policy_decision_shows_with_the_losing_value(client):
    world = World(client)
    world.sync.conflict_policy = "prefer_b"
    world.sync.save(update_fields=["conflict_policy"])
    record = world.crm.insert("contacts", {"email": "ann@x.com", "name": "Base"})
    run_now(world.sync)
    world.crm.edit("contacts", record.id, {"name": "Lost on A"})
    world.desk.edit("users", world.desk.all("users")[0].id, {"full_name": "Kept from B"})
    run_now(world.sync)
    [decided] = Conflict.objects.all()

    html = client.get("/conflicts/", {"tab": "resolved"}).content.decode()

    text = card(html, decided)
    assert "Decided by the sync's policy" in text
    assert "prefer B" in text
    assert "Kept from B" in text
    assert "Lost on A" in text


def test_a_viewer_sees_everything_and_can_decide_nothing(client):
    owner_world = World(client)
    conflict = owner_world.names("ann@x.com")
    viewer = MembershipFactory(role=Role.VIEWER, workspace=owner_world.workspace)
    client.logout()
    client.login(username=viewer.user.username, password=PASSWORD)

    html = client.get("/conflicts/").content.decode()

    assert "you can see every conflict, but deciding needs the editor role" in html
    text = card(html, conflict)
    assert "From A" in text
    assert re.search(r'value="a"\s+disabled', text)
    assert re.search(r'value="b"\s+disabled', text)
    refused = client.post(f"/conflicts/{conflict.public_id}/decide/", {"choice": "a"})
    assert refused.status_code == 403
    bulk = client.post(
        "/conflicts/decide/", {"choice": "a", "scope": "selected", "ids": [str(conflict.public_id)]}
    )
    assert bulk.status_code == 403
    assert Conflict.objects.get(pk=conflict.pk).status == "open"


def test_another_workspaces_conflicts_are_not_found(client):
    theirs_world = World(client, name="Theirs")
    theirs = theirs_world.names("secret@x.com")
    client.logout()
    mine = World(client, name="Mine")
    mine_conflict = mine.names("ann@x.com")

    html = client.get("/conflicts/").content.decode()
    assert order(html, [theirs, mine_conflict]) == [1]
    assert "secret@x.com" not in html
    assert client.get(f"/conflicts/{theirs.public_id}/").status_code == 404
    assert client.post(f"/conflicts/{theirs.public_id}/decide/", {"choice": "a"}).status_code == 404
    client.post(
        "/conflicts/decide/",
        {"choice": "a", "scope": "selected", "ids": [str(theirs.public_id)]},
        **HTMX,
    )
    other_sync = {
        "choice": "a",
        "scope": "field",
        "sync": str(theirs.sync.public_id),
        "field": "name",
    }
    assert client.post("/conflicts/decide/", other_sync).status_code == 404
    assert Conflict.objects.get(pk=theirs.pk).status == "open"
