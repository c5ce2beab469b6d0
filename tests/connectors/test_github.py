"""GitHub Issues: the hard parts, over real HTTP against the sandbox.

Every test that talks to the sandbox goes through the `github_traffic` recorder, and its
teardown validates each request the connector sent and each answer the sandbox gave
against GitHub's OpenAPI description (tests/connectors/github_openapi.py); GraphQL's
deleteIssue, outside that description, is checked here by its shape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors import registry
from connectors.answers import MAX_EMPTY_PAGES
from connectors.base import NewComment, RecordUpdate, WebhookRequest
from connectors.errors import (
    AuthenticationError,
    ConfigurationError,
    EndlessPaging,
    PermissionDenied,
    RateLimited,
    RecordError,
    UnexpectedAnswer,
    WebhookVerificationError,
)
from connectors.github import sandbox as github_sandbox
from connectors.github.client import SECONDARY_WAIT, rate_limit_wait
from connectors.github.connector import GitHubConnector
from tests.connectors.contract_run import contract_run
from tests.connectors.github_openapi import GITHUB, GRAPHQL, GitHubTrafficRecorder
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

needs_spec = GITHUB.needed()
SECRET = "github-webhook-secret"
CASE = github_sandbox.contract()


def _connector(sandbox: Sandbox, **overrides: str) -> GitHubConnector:
    values = {**CASE.config(sandbox.url_for("github")), **overrides}
    connector = registry.build("github", values)
    assert isinstance(connector, GitHubConnector)
    connector.client.http.backoff_base = 0.01
    return connector


@pytest.fixture
def github(sandbox: Sandbox, github_traffic: GitHubTrafficRecorder) -> Iterator[GitHubConnector]:
    connector = _connector(sandbox)
    yield connector
    connector.close()


def _read(connector: GitHubConnector, cursor=None):
    records, last = [], cursor
    for page in connector.changes("issues", cursor):
        records.extend(page.records)
        last = page.cursor
    return records, last


# -- reading -------------------------------------------------------------------------------


def test_pull_requests_are_left_out_everywhere(
    github: GitHubConnector, github_traffic: GitHubTrafficRecorder
) -> None:
    records, _ = _read(github)
    listed = [
        item
        for e in github_traffic.exchanges
        if e.path == "/repos/octo-org/website/issues"
        for item in json.loads(e.response_body)
    ]
    pulls = {f"octo-org/website#{i['number']}" for i in listed if "pull_request" in i}
    assert len(pulls) == 2, "the seed lists two pull requests among the issues"
    ids = {r.id for r in records}
    assert not ids & pulls
    assert {r.fields["repository"] for r in records} == {"octo-org/website", "octo-org/api"}
    assert github.get("issues", sorted(pulls)) == []
    assert not set(next(iter(github.list_ids("issues")))) & pulls


def test_changes_page_by_time_and_an_update_mid_read_skips_nothing(
    github: GitHubConnector, github_traffic: GitHubTrafficRecorder
) -> None:
    everything, _ = _read(github)
    github.page_size = 2
    pages = github.changes("issues", None)
    first = next(pages)
    read = {r.id for r in first.records}
    # Touch the issue read first: on GitHub it moves to the end of the listing, and every
    # issue after it moves up one place, so page 2 by number would skip one.
    touched = first.records[0].id
    assert github.update("issues", [RecordUpdate(touched, {"title": "Touched mid-read"})])[0].ok
    latest = {}
    for page in pages:
        for record in page.records:
            read.add(record.id)
            latest[record.id] = record
    assert read >= {r.id for r in everything}
    assert latest[touched].fields["title"] == "Touched mid-read"
    listings = [
        e for e in github_traffic.exchanges if e.method == "GET" and e.path.endswith("/issues")
    ]
    assert all("page=1" in e.query for e in listings[-3:]), "later pages are asked for by time"


def test_two_changes_within_one_second_are_both_read(github: GitHubConnector) -> None:
    _, cursor = _read(github)
    [issue_id] = [r.record.id for r in github.create("issues", [{"title": "Same second"}])]
    first, cursor = _read(github, cursor)
    assert [r.id for r in first] == [issue_id]
    github.update("issues", [RecordUpdate(issue_id, {"body": "changed within the second"})])
    second, cursor = _read(github, cursor)
    assert [r.fields["body"] for r in second] == ["changed within the second"]
    assert _read(github, cursor)[0] == []


# Injected faults make answers GitHub would never give: these tests go without the
# `github_traffic` validation.


@pytest.mark.parametrize("reader", ["changes", "list_ids"])
def test_a_listing_that_says_more_follow_forever_stops_with_a_clear_error(
    sandbox: Sandbox, reader: str
) -> None:
    connector = _connector(sandbox)
    listing = "/repos/octo-org/website/issues"
    sandbox.admin.set_faults("github", paging=[{"mode": "endless", "path": listing}])
    if reader == "changes":
        read = lambda: list(connector.changes("issues", None))  # noqa: E731
    else:
        read = lambda: list(connector.list_ids("issues"))  # noqa: E731
    with pytest.raises(EndlessPaging, match=r"^GitHub GET /repos/\{owner\}/\{repo\}/issues: "):
        read()
    calls = sum(e["count"] for e in sandbox.admin.stats("github")["endpoints"].values())
    assert calls <= MAX_EMPTY_PAGES + 10, "the loop went on past the bound"


def test_an_issue_without_its_number_names_the_call_and_the_field(sandbox: Sandbox) -> None:
    sandbox.admin.set_faults(
        "github", shape=[{"drop": "number", "path": "/repos/octo-org/website/issues"}]
    )
    with pytest.raises(UnexpectedAnswer) as caught:
        list(_connector(sandbox).changes("issues", None))
    assert caught.value.field == "[0].number"
    assert str(caught.value).startswith("GitHub GET /repos/{owner}/{repo}/issues")


def test_a_foreign_cursor_is_refused(github: GitHubConnector) -> None:
    with pytest.raises(ConfigurationError, match="not a GitHub change cursor"):
        next(github.changes("issues", {"since": "2024-01-01"}))


def test_deleted_and_transferred_issues_are_left_out_of_get(
    github: GitHubConnector, sandbox: Sandbox, github_traffic: GitHubTrafficRecorder
) -> None:
    ids = [r.record.id for r in github.create("issues", [{"title": "a"}, {"title": "b"}])]
    assert [r.ok for r in github.delete("issues", ids[:1])] == [True]
    [mutation] = github_traffic.graphql
    body = json.loads(mutation.request_body)
    assert "deleteIssue" in body["query"]
    assert body["variables"]["id"]
    assert json.loads(mutation.response_body) == {
        "data": {"deleteIssue": {"clientMutationId": None}}
    }
    number = ids[1].split("#")[1]
    sandbox.admin.queue_fault(
        "github", status=301, path=f"/repos/octo-org/website/issues/{number}", message="Moved"
    )
    assert github.get("issues", ids) == []  # 410 for the deleted one, 301 for the moved one
    statuses = [
        e.status
        for e in github_traffic.exchanges
        if e.path.startswith("/repos/octo-org/website/issues/")
    ]
    assert statuses[-2:] == [410, 301]
    assert [r.id for r in github.get("issues", ids[1:])] == ids[1:]
    assert ids[0] not in {i for page in github.list_ids("issues") for i in page}


def test_find_by_title_label_and_number(github: GitHubConnector) -> None:
    made = github.create(
        "issues", [{"title": "Checkout button missing", "labels": ["bug", "customer-report"]}]
    )[0].record
    assert [r.id for r in github.find("issues", "title", ["Checkout button missing"])] == [made.id]
    assert github.find("issues", "title", ["Checkout button"]) == []  # exact, not a substring
    assert made.id in {r.id for r in github.find("issues", "labels", ["customer-report"])}
    number = made.fields["number"]
    assert [r.id for r in github.find("issues", "number", [number])] == [made.id]
    with pytest.raises(ConfigurationError):
        github.find("issues", "created_at", ["2024-01-01"])


# -- writing -------------------------------------------------------------------------------


def test_create_in_a_chosen_repository_closed_with_a_milestone(github: GitHubConnector) -> None:
    [result] = github.create(
        "issues",
        [
            {
                "title": "Deprecate v1 tokens",
                "repository": "octo-org/api",
                "milestone": "v2.0",
                "assignee": "lena-dev",
                "state": "closed",
                "state_reason": "not_planned",
            }
        ],
    )
    assert result.ok, result.error
    record = result.record
    assert record.id.startswith("octo-org/api#")
    assert (record.fields["milestone"], record.fields["assignees"]) == ("v2.0", ["lena-dev"])
    assert (record.fields["state"], record.fields["state_reason"]) == ("closed", "not_planned")


def test_bad_values_are_errors_of_their_record_only(github: GitHubConnector) -> None:
    results = github.create(
        "issues",
        [
            {"title": "fine"},
            {"title": "no such milestone", "milestone": "v9"},
            {"title": "elsewhere", "repository": "someone/else"},
            {"title": "no such type", "type": "Saga"},
        ],
    )
    assert [r.ok for r in results] == [True, False, False, False]
    assert "no milestone 'v9'" in str(results[1].error)
    assert results[2].error.fields == {"repository": "not configured"}
    assert results[3].error.status == 422
    moved = github.update(
        "issues", [RecordUpdate(results[0].record.id, {"repository": "octo-org/api"})]
    )
    assert moved[0].error.fields == {"repository": "cannot change"}


def test_a_read_only_token_cannot_write_and_says_why(sandbox: Sandbox, github_traffic) -> None:
    connector = _connector(sandbox, token=github_sandbox.READ_ONLY_TOKEN)
    connector.check()  # reading is allowed
    with pytest.raises(PermissionDenied, match="Issues: read and write"):
        connector.create("issues", [{"title": "not allowed"}])


# -- check: the errors a connection shows ---------------------------------------------------


def test_check_names_the_problem(sandbox: Sandbox, github_traffic: GitHubTrafficRecorder) -> None:
    # GitHub answers 401 to any call with a bad token, and 403 to a listing the token may
    # not read; its description documents neither for these operations.
    github_traffic.expected_undocumented.update({401, 403})
    with pytest.raises(AuthenticationError):
        _connector(sandbox, token="github_pat_wrong").check()
    with pytest.raises(ConfigurationError, match="octo-org/gone does not exist"):
        _connector(sandbox, repositories="octo-org/website, octo-org/gone").check()
    with pytest.raises(ConfigurationError, match="issues turned off"):
        _connector(sandbox, repositories="mona/dotfiles").check()
    with pytest.raises(ConfigurationError, match="archived"):
        _connector(sandbox, repositories="octo-org/legacy").check()
    with pytest.raises(PermissionDenied, match="Issues permission"):
        _connector(sandbox, token=github_sandbox.METADATA_TOKEN).check()
    _connector(sandbox, token=github_sandbox.INSTALLATION_TOKEN).check()


def test_personal_repositories_have_no_issue_types(sandbox: Sandbox, github_traffic) -> None:
    connector = _connector(sandbox, repositories="mona/notes")
    names = {spec.name for spec in connector.fields("issues")}
    assert "type" not in names
    assert {"labels", "milestone", "assignees"} <= names
    assert len(_read(connector)[0]) == 2


# -- rate limits ----------------------------------------------------------------------------


def test_primary_limit_is_rate_limited_until_the_reset(
    github: GitHubConnector, sandbox: Sandbox, github_traffic: GitHubTrafficRecorder
) -> None:
    github.client.http.max_elapsed = 5.0
    # Spend the search limit (30 a minute): the 31st search answers 403 with remaining 0.
    github_traffic.expected_undocumented.add(403)
    for n in range(30):
        github.find("issues", "title", [f"nothing {n}"])
    with pytest.raises(RateLimited) as caught:
        github.find("issues", "title", ["one too many"])
    assert caught.value.status == 403
    assert 0 < caught.value.retry_after <= 60


def test_rate_limit_signs_are_read_as_github_documents_them() -> None:
    now = 1_700_000_000.0
    primary = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(now) + 120)}
    assert rate_limit_wait(primary, "API rate limit exceeded", now=now) == 120
    assert rate_limit_wait({"Retry-After": "30", **primary}, "", now=now) == 30
    secondary = "You have exceeded a secondary rate limit. Please wait a few minutes"
    assert rate_limit_wait({"x-ratelimit-remaining": "4000"}, secondary, now=now) == SECONDARY_WAIT
    refused = '{"message": "Resource not accessible by personal access token"}'
    assert rate_limit_wait({"x-ratelimit-remaining": "4000"}, refused, now=now) is None


def test_a_secondary_limit_is_retried_after_retry_after(
    github: GitHubConnector, sandbox: Sandbox, github_traffic: GitHubTrafficRecorder
) -> None:
    github_traffic.expected_undocumented.add(429)
    sandbox.admin.queue_fault("github", status=429, retry_after=1)
    github.check()
    assert [e.status for e in github_traffic.exchanges][:2] == [429, 200]


# -- webhooks -------------------------------------------------------------------------------


def _request(event: str, payload: dict, secret: str = SECRET) -> WebhookRequest:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }
    return WebhookRequest("POST", "https://concord.example/hooks/1/", headers, body)


def _issue_payload(action: str, repo: str = "octo-org/website", **issue: object) -> dict:
    return {
        "action": action,
        "issue": {"number": 7, "updated_at": "2025-03-01T10:00:00Z", **issue},
        "repository": {"full_name": repo},
    }


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        ("issues", _issue_payload("opened"), [("octo-org/website#7", "created")]),
        ("issues", _issue_payload("labeled"), [("octo-org/website#7", "updated")]),
        ("issues", _issue_payload("deleted"), [("octo-org/website#7", "deleted")]),
        ("issues", _issue_payload("transferred"), [("octo-org/website#7", "deleted")]),
        (
            "issues",
            _issue_payload("edited", "Octo-Org/Website"),
            [("octo-org/website#7", "updated")],
        ),
        ("issue_comment", _issue_payload("created"), [("octo-org/website#7", "updated")]),
        ("issue_comment", _issue_payload("edited"), [("octo-org/website#7", "updated")]),
        ("issue_comment", _issue_payload("deleted"), [("octo-org/website#7", "updated")]),
        ("issue_comment", _issue_payload("created", pull_request={"url": "x"}), []),
        ("issues", _issue_payload("opened", "someone/else"), []),
        ("ping", {"zen": "Keep it logically awesome.", "hook_id": 1}, []),
        ("star", {"action": "created", "repository": {"full_name": "octo-org/website"}}, []),
    ],
)
def test_webhook_events(event: str, payload: dict, expected: list, sandbox: Sandbox) -> None:
    connector = _connector(sandbox)
    result = connector.parse_webhook(_request(event, payload), SECRET)
    assert [(e.record_id, e.action) for e in result.events] == expected
    assert (
        result.delivery_id == "sha256:" + hashlib.sha256(json.dumps(payload).encode()).hexdigest()
    )


def test_a_comment_event_happens_at_the_comment_s_time_not_the_issue_s(sandbox: Sandbox) -> None:
    """An edit or a deletion of a comment need not move the issue's `updated_at`: at that
    time the event would pass for an echo of what Concord stored last, and be dropped."""
    connector = _connector(sandbox)
    comment = {"id": 5, "updated_at": "2025-03-02T08:30:00Z"}
    times = {}
    for action in ("created", "edited", "deleted"):
        payload = {**_issue_payload(action), "comment": comment}
        [event] = connector.parse_webhook(_request("issue_comment", payload), SECRET).events
        times[action] = event.occurred_at
    assert times["created"] == times["edited"] == datetime(2025, 3, 2, 8, 30, tzinfo=UTC)
    assert times["deleted"] is None


def test_webhooks_are_refused_unless_signed_with_the_secret(sandbox: Sandbox) -> None:
    connector = _connector(sandbox)
    good = _request("issues", _issue_payload("opened"))
    for bad in (
        _request("issues", _issue_payload("opened"), secret="other"),
        WebhookRequest(good.method, good.url, {"X-GitHub-Event": "issues"}, good.body),
        WebhookRequest(
            good.method, good.url, {**good.headers, "X-Hub-Signature-256": "sha1=abc"}, good.body
        ),
    ):
        with pytest.raises(WebhookVerificationError):
            connector.parse_webhook(bad, SECRET)
    with pytest.raises(WebhookVerificationError):
        connector.parse_webhook(good, "")


def test_the_sandbox_delivers_signed_issue_events(
    github: GitHubConnector, sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.admin.register_webhook("github", webhook_receiver.url, SECRET)
    record = github.create("issues", [{"title": "Hook me"}])[0].record
    github.update("issues", [RecordUpdate(record.id, {"state": "closed"})])
    github.delete("issues", [record.id])
    sandbox.admin.flush_webhooks()
    seen = [
        (r.header("X-GitHub-Event"), e.record_id, e.action)
        for r in webhook_receiver.requests
        for e in github.parse_webhook(r, SECRET).events
    ]
    assert seen == [
        ("issues", record.id, "created"),
        ("issues", record.id, "updated"),
        ("issues", record.id, "deleted"),
    ]
    assert all(r.header("X-GitHub-Delivery") for r in webhook_receiver.requests)


def test_the_sandbox_delivers_signed_comment_events_naming_the_issue(
    github: GitHubConnector, sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    record = github.create("issues", [{"title": "Talk about me"}])[0].record
    sandbox.admin.register_webhook("github", webhook_receiver.url, SECRET)
    made = github.comment_create("issues", record.id, NewComment("First."))
    github.comment_update("issues", record.id, made.id, NewComment("First, edited."))
    github.comment_delete("issues", record.id, made.id)
    sandbox.admin.flush_webhooks()
    seen = []
    for request in webhook_receiver.requests:
        payload = json.loads(request.body)
        for event in github.parse_webhook(request, SECRET).events:
            seen.append((payload["action"], str(payload["comment"]["id"]), event.record_id))
        assert request.header("X-GitHub-Event") == "issue_comment"
    assert seen == [
        ("created", made.id, record.id),
        ("edited", made.id, record.id),
        ("deleted", made.id, record.id),
    ]
    edited = json.loads(webhook_receiver.requests[1].body)
    assert edited["changes"] == {"body": {"from": "First."}}


def test_mentions_written_to_github_notify_nobody_and_read_back_as_text(
    github: GitHubConnector, github_traffic: GitHubTrafficRecorder
) -> None:
    record = github.create("issues", [{"title": "Mentions"}])[0].record
    text = "Ask @octocat about `@decorator` and mail ops@example.com"
    made = github.comment_create("issues", record.id, NewComment(text))
    [posted] = [
        e for e in github_traffic.exchanges if e.method == "POST" and e.path.endswith("/comments")
    ]
    sent = json.loads(posted.request_body)["body"]
    assert sent == "Ask @\u200boctocat about `@decorator` and mail ops@example.com"
    assert made.body == text
    [listed] = github.comments("issues", record.id)
    assert (listed.body, listed.author_name) == (text, "concord-bot")


def test_github_takes_no_private_notes_and_a_bad_issue_id_is_the_record_s_error(
    github: GitHubConnector,
) -> None:
    record = github.create("issues", [{"title": "Public only"}])[0].record
    with pytest.raises(RecordError, match="no internal comments"):
        github.comment_create("issues", record.id, NewComment("secret", internal=True))
    assert github.comments("issues", record.id) == []
    with pytest.raises(RecordError, match="not an issue of this connection"):
        github.comments("issues", "someone/else#1")
    with pytest.raises(RecordError, match="not a GitHub comment id"):
        github.comment_update("issues", record.id, "../../issues/1", NewComment("x"))


# -- configuration and links ---------------------------------------------------------------


def test_config_is_validated_and_the_token_is_secret() -> None:
    config = registry.parse_config(
        "github",
        {"token": "t0ken", "repositories": " octo-org/website ,https://github.com/mona/notes "},
    )
    assert config.repos == ["octo-org/website", "mona/notes"]
    assert config.base_url == "https://api.github.com"
    assert "t0ken" not in repr(config)
    assert registry.config_schema("github")["properties"]["token"]["secret"] is True
    for repositories in ("", "website", "a/b, A/B", "a/b/c"):
        with pytest.raises(ConfigurationError, match="repositories"):
            registry.parse_config("github", {"token": "t", "repositories": repositories})


def test_record_urls_lead_to_the_issue_page(sandbox: Sandbox) -> None:
    connector = registry.build("github", {"token": "t", "repositories": "octo-org/website"})
    url = connector.record_url("issues", "octo-org/website#12")
    assert url == "https://github.com/octo-org/website/issues/12"
    ghes = registry.build(
        "github",
        {"base_url": "https://git.corp/api/v3", "token": "t", "repositories": "a/b"},
    )
    assert ghes.record_url("issues", "a/b#3") == "https://git.corp/a/b/issues/3"
    assert connector.record_url("issues", "not-an-id") is None
    local = _connector(sandbox)
    page = local.client.http.session.get(local.record_url("issues", "octo-org/website#1"))
    assert page.status_code == 200
    assert "octo-org/website#1" in page.text


# -- the contract run, validated against the spec -------------------------------------------


@needs_spec
def test_contract_run_traffic_validates_against_the_openapi_description(tmp_path: Path) -> None:
    """Run the shared contract suite for GitHub with every exchange recorded and validated."""
    report = tmp_path / "github-traffic.json"
    data = contract_run(
        "github",
        plugin="tests.connectors.openapi_plugin",
        report=report,
        env={"OPENAPI_VENDOR": "github", "OPENAPI_TRAFFIC_REPORT": str(report)},
    )
    assert data["exchanges"] >= 100
    assert data["problems"] == []
    # Undocumented statuses may only be the faults the suite injects on purpose, the 401
    # GitHub answers to any call with a bad token, and the 404 it answers to the deletion of
    # a comment already gone (its description lists only 204 for issues/delete-comment).
    assert set(data["undocumented"]) <= {"401", "404", "429", "502"}, data["undocumented"]
    not_found = {k for k in data["undocumented_calls"] if k.startswith("404 ")}
    gone = "404 DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}"
    assert not_found <= {gone}, data["undocumented_calls"]
    assert data["operations_seen"] >= 9
    assert set(data["not_validated"]) == {f"POST {GRAPHQL}"}


# -- a GitHub App --------------------------------------------------------------------------


def _app_connector(sandbox: Sandbox, **overrides: str) -> GitHubConnector:
    values = {
        **CASE.config(sandbox.url_for("github")),
        "token": None,
        "app_id": github_sandbox.APP_ID,
        "installation_id": github_sandbox.INSTALLATION_ID,
        "private_key": github_sandbox.app_private_key(),
        **overrides,
    }
    connector = registry.build("github", values)
    assert isinstance(connector, GitHubConnector)
    return connector


def test_a_github_app_buys_an_installation_token_and_reuses_it(
    sandbox: Sandbox, github_traffic: GitHubTrafficRecorder
) -> None:
    connector = _app_connector(sandbox)
    connector.check()
    connector.fields("issues")
    bought = [e for e in github_traffic.exchanges if e.path.startswith("/app/installations/")]
    assert len(bought) == 1
    jwt = bought[0].request_headers["authorization"].removeprefix("Bearer ")
    _, claims, _ = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert claims["iss"] == github_sandbox.APP_ID
    assert 0 < claims["exp"] - claims["iat"] <= 600
    token = json.loads(bought[0].response_body)["token"]
    later = [e for e in github_traffic.exchanges if e not in bought]
    assert {e.request_headers["authorization"] for e in later} == {f"Bearer {token}"}

    # Five minutes before it expires, the next call buys a new one.
    connector.client.http.app_tokens._expires = time.time() + 200
    connector.check()
    bought = [e for e in github_traffic.exchanges if e.path.startswith("/app/installations/")]
    assert len(bought) == 2


def test_a_github_app_s_mistakes_are_named(sandbox: Sandbox, github_traffic) -> None:
    github_traffic.expected_undocumented.add(401)
    with pytest.raises(ConfigurationError, match="installation 999 of this GitHub App"):
        _app_connector(sandbox, installation_id="999").check()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(AuthenticationError, match="check the App id and the private key"):
        _app_connector(sandbox, private_key=pem).check()
    with pytest.raises(ConfigurationError, match="private_key"):
        _app_connector(sandbox, private_key="not a key")


def test_a_pasted_key_that_lost_its_line_breaks_still_works(sandbox: Sandbox, github_traffic):
    one_line = " ".join(github_sandbox.app_private_key().split("\n"))
    _app_connector(sandbox, private_key=one_line).check()


def test_a_token_or_an_app_but_not_both_nor_neither() -> None:
    base = {"repositories": "a/b"}
    app = {"app_id": "1", "installation_id": "2", "private_key": github_sandbox.app_private_key()}
    with pytest.raises(ConfigurationError, match="not both"):
        registry.parse_config("github", {**base, "token": "t", **app})
    with pytest.raises(ConfigurationError, match="give a token, or a GitHub App"):
        registry.parse_config("github", {**base, "app_id": "1", "installation_id": "2"})
    schema = registry.config_schema("github")
    assert schema["properties"]["private_key"]["secret"] is True
    assert schema["required"] == ["repositories"]
