"""The demo `make run` seeds: against a real sandbox server over HTTP (tests.sandbox_fixtures),
with webhook targets pointing at a local receiver that stands in for this instance."""

from __future__ import annotations

import io
import socket

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.config.celery import app as celery_app
from apps.connections.models import Connection
from apps.connections.services import connection_webhook_url, connector_for
from apps.dashboard import demo
from apps.dashboard.tasks import demo_seed as demo_seed_task
from apps.runs.models import SyncRun
from apps.syncs.models import FieldMapping, RecordLink, Sync
from connectors.base import NewComment, Record, RecordUpdate
from connectors.sandbox.server import start_in_thread
from tests.factories import WorkspaceFactory
from tests.running import run_now, run_settled

pytestmark = pytest.mark.django_db

NAMES = ["HubSpot (sandbox)", "Zendesk (sandbox)", "Jira (sandbox)", "GitHub (sandbox)"]
SYNCS = [demo.CONTACTS_SYNC, demo.TICKETS_SYNC, demo.ISSUES_SYNC]


@pytest.fixture
def receiver(settings, webhook_receiver):
    """Webhook targets are built from CONCORD_PUBLIC_URL: point it at the receiver. The
    request budget is lifted: the demo syncs' first runs read every issue's comments one
    call each, and these tests are about where records go, not the budget."""
    settings.CONCORD_PUBLIC_URL = webhook_receiver.origin
    settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW = 1_000_000
    return webhook_receiver


def connections_of(workspace) -> dict[str, Connection]:
    return {c.kind: c for c in Connection.objects.for_workspace(workspace)}


def sandbox_targets(sandbox_url: str) -> dict[str, dict[str, str]]:
    """The webhook subscriptions as {vendor: {"url": ...}}: one each, or the test fails."""
    response = requests.get(f"{sandbox_url}/_sandbox/webhooks", timeout=10)
    response.raise_for_status()
    subscriptions = response.json()["subscriptions"]
    targets = {s["vendor"]: {"url": s["url"]} for s in subscriptions}
    assert len(targets) == len(subscriptions), f"more than one per vendor: {subscriptions}"
    return targets


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def read_all(connection: Connection, object_type: str) -> list[Record]:
    connector = connector_for(connection)
    try:
        pages = connector.changes(object_type, None)
        return [r for page in pages for r in page.records if not r.deleted]
    finally:
        connector.close()


def get_one(connection: Connection, object_type: str, record_id: str) -> Record:
    connector = connector_for(connection)
    try:
        (record,) = connector.get(object_type, [record_id])
        return record
    finally:
        connector.close()


def update_one(connection: Connection, object_type: str, record_id: str, **fields) -> None:
    connector = connector_for(connection)
    try:
        (result,) = connector.update(object_type, [RecordUpdate(record_id, fields)])
    finally:
        connector.close()
    assert result.ok, result.error


def partner(sync: Sync, *, a_id: str | None = None, b_id: str | None = None) -> RecordLink:
    found = {"a_id": a_id} if a_id is not None else {"b_id": b_id}
    return RecordLink.objects.get(sync=sync, status="linked", **found)


def test_demo_seed_creates_checked_connections_validated_syncs_and_webhook_targets(
    sandbox, receiver
):
    workspace = WorkspaceFactory()

    result = demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)

    assert result.connections_created == NAMES
    assert result.syncs_created == SYNCS
    connections = connections_of(workspace)
    assert {(c.name, c.kind, c.config["base_url"], c.status) for c in connections.values()} == {
        ("HubSpot (sandbox)", "hubspot", f"{sandbox.url}/hubspot", "ok"),
        ("Zendesk (sandbox)", "zendesk", f"{sandbox.url}/zendesk", "ok"),
        ("Jira (sandbox)", "jira", f"{sandbox.url}/jira", "ok"),
        ("GitHub (sandbox)", "github", f"{sandbox.url}/github", "ok"),
    }

    contacts = Sync.objects.get(workspace=workspace, name=demo.CONTACTS_SYNC)
    assert (contacts.connection_a, contacts.object_type_a) == (connections["hubspot"], "contacts")
    assert (contacts.connection_b, contacts.object_type_b) == (connections["zendesk"], "users")
    assert contacts.enabled
    assert contacts.interval_seconds == demo.DEMO_INTERVAL_SECONDS
    assert contacts.match_rule == [{"a": "email", "b": "email", "normalise": "email"}]
    assert [(f.side, f.field, f.operator, f.value) for f in contacts.filters.all()] == [
        ("b", "role", "equals", "end-user")
    ]
    assert [(m.field_a, m.field_b, m.direction) for m in contacts.mappings.all()] == [
        ("email", "email", "both"),
        ("firstname", "name", "both"),
        ("phone", "phone", "both"),
        ("vip", "custom_vip", "both"),
    ]

    tickets = Sync.objects.get(workspace=workspace, name=demo.TICKETS_SYNC)
    assert (tickets.connection_a, tickets.object_type_a) == (connections["jira"], "issues")
    assert (tickets.connection_b, tickets.object_type_b) == (connections["zendesk"], "tickets")
    assert tickets.enabled
    assert tickets.match_rule == []
    assert [(m.field_a, m.field_b, m.direction) for m in tickets.mappings.all()] == [
        ("summary", "subject", "both"),
        ("description", "description", "b_to_a"),
        ("key", "description", "a_to_b"),
        ("priority", "priority", "both"),
        ("status", "status", "a_to_b"),
        ("reporter", "requester_id", "b_to_a"),
    ]
    reporter = tickets.mappings.get(field_a="reporter")
    assert (reporter.reference, reporter.users_a, reporter.users_b) == ("people", "", "users")
    # Kinds and options come from the sandboxes' field discovery: sync_create validated the
    # value maps against the real option lists.
    status = tickets.mappings.get(field_a="status")
    assert (status.kind_a, status.kind_b) == ("enum", "enum")
    assert status.options_a == ["To Do", "In Progress", "Done"]
    assert status.options_b == ["new", "open", "pending", "hold", "solved", "closed"]
    assert status.value_map_a_to_b == {"To Do": "open", "In Progress": "pending", "Done": "solved"}
    issues = Sync.objects.get(workspace=workspace, name=demo.ISSUES_SYNC)
    assert (issues.connection_a, issues.object_type_a) == (connections["github"], "issues")
    assert (issues.connection_b, issues.object_type_b) == (connections["jira"], "issues")
    assert issues.match_rule == []
    state = issues.mappings.get(field_a="state")
    assert (state.options_a, state.options_b) == (["open", "closed"], status.options_a)
    vip = contacts.mappings.get(field_a="vip")
    assert (vip.kind_a, vip.kind_b) == ("boolean", "boolean")

    expected = {kind: connection_webhook_url(c) for kind, c in connections.items()}
    assert result.webhooks == expected
    assert sandbox_targets(sandbox.url) == {kind: {"url": url} for kind, url in expected.items()}


def test_a_sandbox_change_is_delivered_signed_to_the_connections_webhook_url(sandbox, receiver):
    workspace = WorkspaceFactory()
    demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)
    connections = connections_of(workspace)
    issue = read_all(connections["jira"], "issues")[0]
    report = read_all(connections["github"], "issues")[0]
    users = read_all(connections["zendesk"], "users")
    user = next(u for u in users if u.fields["role"] == "end-user")
    contact = read_all(connections["hubspot"], "contacts")[0]

    update_one(connections["jira"], "issues", issue.id, summary="Edited for the webhook test")
    update_one(connections["zendesk"], "users", user.id, phone="+1 555 000 0001")
    update_one(connections["hubspot"], "contacts", contact.id, jobtitle="Webhook tester")
    update_one(connections["github"], "issues", report.id, title="Edited for the webhook test")
    sandbox.admin.flush_webhooks()

    named = {}
    for kind, connection in connections.items():
        url = connection_webhook_url(connection)
        deliveries = [r for r in receiver.requests if r.url == url]
        assert deliveries, f"no {kind} delivery reached {url}"
        connector = connector_for(connection)
        try:
            # Verifies the signature with the connection's own secret, or raises.
            named[kind] = {
                event.record_id
                for delivery in deliveries
                for event in connector.parse_webhook(delivery, connection.webhook_secret).events
            }
        finally:
            connector.close()
    assert issue.id in named["jira"]
    assert user.id in named["zendesk"]
    assert contact.id in named["hubspot"]
    assert report.id in named["github"]


def test_demos_of_two_workspaces_on_one_sandbox_both_receive_its_webhooks(sandbox, receiver):
    first, second = WorkspaceFactory(), WorkspaceFactory()
    demo.demo_seed(workspace=first, sandbox_url=sandbox.url)
    demo.demo_seed(workspace=second, sandbox_url=sandbox.url)
    hubspot = [connections_of(first)["hubspot"], connections_of(second)["hubspot"]]
    contact = read_all(hubspot[0], "contacts")[0]

    update_one(hubspot[0], "contacts", contact.id, jobtitle="Seen by both workspaces")
    sandbox.admin.flush_webhooks()

    for connection in hubspot:
        url = connection_webhook_url(connection)
        deliveries = [r for r in receiver.requests if r.url == url]
        assert deliveries, f"no delivery reached {url}"
        connector = connector_for(connection)
        try:
            # Each connection's own secret verifies its deliveries, or this raises.
            named = {
                event.record_id
                for delivery in deliveries
                for event in connector.parse_webhook(delivery, connection.webhook_secret).events
            }
        finally:
            connector.close()
        assert contact.id in named


def test_demo_seed_twice_creates_nothing_twice(sandbox, receiver):
    workspace = WorkspaceFactory()
    demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)
    mappings = FieldMapping.objects.count()
    first_targets = sandbox_targets(sandbox.url)

    again = demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)

    assert again.connections_created == []
    assert again.syncs_created == []
    assert Connection.objects.count() == 4
    assert Sync.objects.count() == 3
    assert FieldMapping.objects.count() == mappings == 14
    assert sandbox_targets(sandbox.url) == first_targets


def test_demo_seed_follows_the_sandbox_to_another_port(sandbox, receiver):
    workspace = WorkspaceFactory()
    demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)
    moved = start_in_thread(port=0, seed=1)
    try:
        result = demo.demo_seed(workspace=workspace, sandbox_url=moved.url)
        targets = sandbox_targets(moved.url)
    finally:
        moved.stop()

    assert result.connections_created == []
    assert result.syncs_created == []
    connections = connections_of(workspace)
    assert {k: c.config["base_url"] for k, c in connections.items()} == {
        kind: f"{moved.url}/{kind}" for kind in ("hubspot", "zendesk", "jira", "github")
    }
    assert targets == {k: {"url": connection_webhook_url(c)} for k, c in connections.items()}


def test_demo_seed_without_a_sandbox_says_so_and_creates_nothing(db):
    workspace = WorkspaceFactory()
    url = closed_port_url()

    with pytest.raises(demo.SandboxUnavailable, match=f"the sandbox at {url} does not answer"):
        demo.demo_seed(workspace=workspace, sandbox_url=url)
    with pytest.raises(demo.SandboxUnavailable):
        demo.sandbox_wait(url, timeout=0.5)

    assert Connection.objects.count() == 0
    assert Sync.objects.count() == 0


def test_the_seeding_task_retries_while_the_sandbox_is_down_then_gives_up(db, monkeypatch):
    workspace = WorkspaceFactory()
    calls = []
    real = demo.demo_seed

    def counting(**kwargs):
        calls.append(kwargs["sandbox_url"])
        return real(**kwargs)

    monkeypatch.setattr(demo, "demo_seed", counting)
    url = closed_port_url()

    outcome = demo_seed_task.apply(args=[workspace.pk, url])

    assert outcome.failed()
    assert isinstance(outcome.result, demo.SandboxUnavailable)
    assert calls == [url] * (demo_seed_task.max_retries + 1)
    assert Connection.objects.count() == 0


def test_seeded_syncs_carry_records_between_the_sandboxes(sandbox, receiver):
    workspace = WorkspaceFactory()
    demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)
    connections = connections_of(workspace)
    hubspot, zendesk, jira = connections["hubspot"], connections["zendesk"], connections["jira"]
    contacts_sync = Sync.objects.get(name=demo.CONTACTS_SYNC)
    tickets_sync = Sync.objects.get(name=demo.TICKETS_SYNC)
    contacts = read_all(hubspot, "contacts")
    users = read_all(zendesk, "users")
    end_users = [u for u in users if u.fields["role"] == "end-user"]
    staff = [u for u in users if u.fields["role"] != "end-user"]
    issues = read_all(jira, "issues")
    tickets = read_all(zendesk, "tickets")
    open_tickets = [t for t in tickets if t.fields["status"] != "closed"]
    closed_tickets = [t for t in tickets if t.fields["status"] == "closed"]
    assert all((contacts, end_users, staff, issues, open_tickets, closed_tickets))

    # Zendesk's jobs are settled by the runs after the first (tests.running.run_settled).
    runs = run_settled(contacts_sync)
    assert {(r.status, r.errors_a, r.errors_b) for r in runs} == {(SyncRun.Status.SUCCEEDED, 0, 0)}
    assert (sum(r.created_a for r in runs), sum(r.created_b for r in runs)) == (
        len(end_users),
        len(contacts),
    )

    contact = contacts[0]
    user = get_one(zendesk, "users", partner(contacts_sync, a_id=contact.id).b_id)
    assert user.fields["email"] == contact.fields["email"]
    assert user.fields["name"] == contact.fields["firstname"]
    assert user.fields["phone"] == contact.fields["phone"]
    assert user.fields["custom_vip"] == contact.fields["vip"]
    customer = end_users[0]
    copied = get_one(hubspot, "contacts", partner(contacts_sync, b_id=customer.id).a_id)
    assert copied.fields["email"] == customer.fields["email"]
    assert copied.fields["firstname"] == customer.fields["name"]
    assert not RecordLink.objects.filter(sync=contacts_sync, b_id__in=[u.id for u in staff])

    runs = run_settled(tickets_sync)
    assert {(r.status, r.errors_a, r.errors_b) for r in runs} == {(SyncRun.Status.SUCCEEDED, 0, 0)}
    assert (sum(r.created_a for r in runs), sum(r.created_b for r in runs)) == (
        len(open_tickets),
        len(issues),
    )

    issue = issues[0]
    ticket = get_one(zendesk, "tickets", partner(tickets_sync, a_id=issue.id).b_id)
    assert ticket.fields["subject"] == issue.fields["summary"]
    assert ticket.fields["description"] == issue.fields["key"]
    assert ticket.fields["status"] == demo.JIRA_TO_ZENDESK_STATUS[issue.fields["status"]]
    assert ticket.fields["priority"] == demo.JIRA_TO_ZENDESK_PRIORITY[issue.fields["priority"]]
    source = open_tickets[0]
    escalated = get_one(jira, "issues", partner(tickets_sync, b_id=source.id).a_id)
    assert escalated.fields["summary"] == source.fields["subject"]
    assert escalated.fields["description"] == source.fields["description"]
    assert escalated.fields["status"] == "To Do"
    expected_priority = demo.ZENDESK_TO_JIRA_PRIORITY.get(source.fields["priority"], "Medium")
    assert escalated.fields["priority"] == expected_priority
    assert not RecordLink.objects.filter(sync=tickets_sync, b_id__in=[t.id for t in closed_tickets])

    # Our own writes come back in the feeds as echoes and cost nothing.
    for sync in (contacts_sync, tickets_sync):
        run = run_now(sync)
        assert run.status == SyncRun.Status.SUCCEEDED
        assert (run.created_a, run.created_b, run.updated_a, run.updated_b) == (0, 0, 0, 0)

    # A change on each side, run for the records a webhook would name.
    todo = next(i for i in issues if i.fields["status"] == "To Do")
    todo_ticket_id = partner(tickets_sync, a_id=todo.id).b_id
    update_one(jira, "issues", todo.id, status="In Progress")
    update_one(zendesk, "tickets", source.id, priority="urgent", subject="Escalated: checkout")
    run = run_now(
        tickets_sync,
        trigger=SyncRun.Trigger.WEBHOOK,
        record_ids={"a": [todo.id], "b": [source.id]},
    )
    assert (run.status, run.updated_a, run.updated_b) == (SyncRun.Status.SUCCEEDED, 1, 1)
    assert get_one(zendesk, "tickets", todo_ticket_id).fields["status"] == "pending"
    escalated = get_one(jira, "issues", escalated.id)
    assert (escalated.fields["priority"], escalated.fields["summary"]) == (
        "Highest",
        "Escalated: checkout",
    )


def test_the_issues_sync_carries_github_reports_to_jira_and_jira_decisions_back(sandbox, receiver):
    workspace = WorkspaceFactory()
    demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)
    connections = connections_of(workspace)
    github, jira = connections["github"], connections["jira"]
    sync = Sync.objects.get(name=demo.ISSUES_SYNC)
    reports = read_all(github, "issues")
    issues = read_all(jira, "issues")
    assert reports
    assert issues

    run = run_now(sync)
    assert (run.status, run.errors_a, run.errors_b) == (SyncRun.Status.SUCCEEDED, 0, 0)
    assert (run.created_a, run.created_b) == (len(issues), len(reports))
    report = next(r for r in reports if r.fields["labels"] and r.fields["body"])
    planned = get_one(jira, "issues", partner(sync, a_id=report.id).b_id)
    assert planned.fields["summary"] == report.fields["title"]
    assert planned.fields["description"] == report.fields["body"]
    assert sorted(planned.fields["labels"]) == report.fields["labels"]
    assert planned.fields["status"] == demo.GITHUB_TO_JIRA_STATUS[report.fields["state"]]
    issue = issues[0]
    mirrored = get_one(github, "issues", partner(sync, b_id=issue.id).a_id)
    assert mirrored.id.startswith("octo-org/website#")  # the first configured repository
    assert mirrored.fields["title"] == issue.fields["summary"]
    assert mirrored.fields["state"] == demo.JIRA_TO_GITHUB_STATE[issue.fields["status"]]

    run = run_now(sync)  # our own writes come back as echoes and cost nothing
    assert (run.created_a, run.created_b, run.updated_a, run.updated_b) == (0, 0, 0, 0)

    # The conversation goes both ways: a question on the GitHub report reaches its Jira issue.
    github_connector = connector_for(github)
    github_connector.comment_create("issues", report.id, NewComment("Which version, @mona?"))
    github_connector.close()
    run = run_now(sync)
    assert run.status == SyncRun.Status.SUCCEEDED
    jira_connector = connector_for(jira)
    [asked] = jira_connector.comments("issues", partner(sync, a_id=report.id).b_id)
    jira_connector.close()
    assert asked.body.endswith("(GitHub):\n\nWhich version, @mona?")

    # Jira finishes the work: the report closes on GitHub, as the webhook would have it.
    opened = next(r for r in reports if r.fields["state"] == "open")
    jira_id = partner(sync, a_id=opened.id).b_id
    update_one(jira, "issues", jira_id, status="Done")
    run = run_now(sync, trigger=SyncRun.Trigger.WEBHOOK, record_ids={"b": [jira_id]})
    assert (run.status, run.updated_a) == (SyncRun.Status.SUCCEEDED, 1)
    assert get_one(github, "issues", opened.id).fields["state"] == "closed"


def test_bootstrap_seeds_the_demo_on_first_start_only(
    sandbox, receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CONCORD_SANDBOX_URL = sandbox.url
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    out = io.StringIO()

    with django_capture_on_commit_callbacks() as enqueue:
        call_command("bootstrap", stdout=out)
    # Under honcho the worker gets another PORT than web, so its default public URL is
    # wrong: the task must use the one bootstrap saw.
    settings.CONCORD_PUBLIC_URL = "http://127.0.0.1:1"
    (callback,) = enqueue
    callback()

    assert f"sandboxes at {sandbox.url}," in out.getvalue()
    workspace = demo.demo_workspace()
    connections = Connection.objects.for_workspace(workspace)
    assert sorted(c.name for c in connections) == sorted(NAMES)
    assert sorted(s.name for s in Sync.objects.for_workspace(workspace)) == sorted(SYNCS)
    assert sandbox_targets(sandbox.url) == {
        c.kind: {"url": connection_webhook_url(c, public_url=receiver.origin)} for c in connections
    }

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_command("bootstrap", stdout=io.StringIO())

    assert callbacks == []
    assert get_user_model().objects.count() == 1
    assert Connection.objects.count() == 4
    assert Sync.objects.count() == 3


def test_demo_seed_command(sandbox, receiver):
    with pytest.raises(CommandError, match="no workspace named 'Demo workspace'"):
        call_command("demo_seed", "--sandbox-url", sandbox.url)
    WorkspaceFactory(name=demo.DEMO_WORKSPACE_NAME, slug="demo")
    out = io.StringIO()

    call_command("demo_seed", "--sandbox-url", sandbox.url, "--wait", "5", stdout=out)
    call_command("demo_seed", "--sandbox-url", sandbox.url, stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "demo in workspace 'demo': created " + ", ".join([*NAMES, *SYNCS])
    assert "demo in workspace 'demo': nothing was missing" in lines
    assert Sync.objects.count() == 3
    with pytest.raises(CommandError, match="does not answer"):
        call_command("demo_seed", "--sandbox-url", closed_port_url(), stdout=out)


def test_a_ticket_by_a_known_user_reaches_jira_with_its_reporter(sandbox, receiver):
    """The requester is a Zendesk user whose email is a Jira user's: the issue made from
    the ticket has that person as reporter. A requester Jira does not know is a warning
    (the field waits), not a failed run."""
    workspace = WorkspaceFactory()
    demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)
    connections = connections_of(workspace)
    zendesk, jira = connections["zendesk"], connections["jira"]
    tickets_sync = Sync.objects.get(name=demo.TICKETS_SYNC)
    run_now(tickets_sync)  # the seeded records first
    connector = connector_for(zendesk)
    try:
        [priya] = connector.create(
            "users", [{"name": "Priya Raman", "email": "priya.raman@northwind.example"}]
        )
        [stranger] = connector.create(
            "users", [{"name": "Sam Stranger", "email": "sam@customer.example"}]
        )
        [known, unknown] = connector.create(
            "tickets",
            [
                {
                    "subject": "Invoice PDF is blank",
                    "description": "Opened by Priya",
                    "requester_id": priya.record.id,
                },
                {
                    "subject": "Where is my order?",
                    "description": "Opened by a customer",
                    "requester_id": stranger.record.id,
                },
            ],
        )
    finally:
        connector.close()

    run = run_now(tickets_sync, record_ids={"b": [known.record.id, unknown.record.id]})

    assert (run.status, run.errors_a, run.created_a) == (SyncRun.Status.SUCCEEDED, 0, 2)
    issue = get_one(jira, "issues", partner(tickets_sync, b_id=known.record.id).a_id)
    assert issue.fields["summary"] == "Invoice PDF is blank"
    assert issue.fields["reporter"] == "priya.raman@northwind.example"
    other = get_one(jira, "issues", partner(tickets_sync, b_id=unknown.record.id).a_id)
    assert other.fields["reporter"] != "sam@customer.example"
    [waiting] = run.events.filter(action="waiting")
    assert (waiting.code, waiting.record_id_b) == ("unknown_user", unknown.record.id)
    assert "sam@customer.example" in waiting.message
