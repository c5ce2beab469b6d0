"""The Jira sandbox's endpoints beyond what the connector calls (connectors/jira/sandbox/),
over HTTP, every exchange validated against Atlassian's OpenAPI description by the
`jira_traffic` fixture (tests/connectors/conftest.py): comments, the change history, the
paged field list, the issue count, users, assignment and the edit screen; and links that
lead back to the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.jira.sandbox import SANDBOX_EMAIL, SANDBOX_TOKEN
from tests.connectors.jira_openapi import JiraTrafficRecorder
from tests.sandbox_fixtures import Sandbox

AUTH = (SANDBOX_EMAIL, SANDBOX_TOKEN)


def doc(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


def call(sandbox: Sandbox, method: str, path: str, body: Any = None, **params: Any):
    return requests.request(
        method,
        sandbox.url_for("jira") + path,
        json=body,
        params=params or None,
        auth=AUTH,
        timeout=10,
    )


def follow(link: str) -> dict[str, Any]:
    answer = requests.get(link, auth=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def jira(sandbox: Sandbox, jira_traffic: JiraTrafficRecorder) -> Sandbox:
    return sandbox


def test_comments_are_listed_read_edited_and_deleted(jira: Sandbox):
    path = "/rest/api/3/issue/OPS-3/comment"
    before = call(jira, "GET", path).json()
    first = call(jira, "POST", path, {"body": doc("First look")}).json()
    second = call(jira, "POST", path, {"body": doc("Second look")}).json()

    listed = call(jira, "GET", path).json()
    assert listed["total"] == before["total"] + 2
    assert [c["id"] for c in listed["comments"][-2:]] == [first["id"], second["id"]]
    newest = call(jira, "GET", path, orderBy="-created").json()
    assert newest["comments"][0]["id"] == second["id"]
    assert first["self"] == f"{jira.url_for('jira')}/rest/api/3/issue/10003/comment/{first['id']}"

    edited = call(jira, "PUT", f"{path}/{first['id']}", {"body": doc("Looked again")})
    assert edited.status_code == 200
    assert call(jira, "GET", f"{path}/{first['id']}").json()["body"] == doc("Looked again")
    assert call(jira, "DELETE", f"{path}/{second['id']}").status_code == 204
    assert call(jira, "GET", f"{path}/{second['id']}").status_code == 404
    assert call(jira, "GET", path).json()["total"] == before["total"] + 1


def test_the_change_history_pages_by_links_back_to_the_sandbox(jira: Sandbox):
    issue = "/rest/api/3/issue/OPS-5"
    for summary in ("Renamed once", "Renamed twice", "Renamed thrice"):
        assert call(jira, "PUT", issue, {"fields": {"summary": summary}}).status_code == 204

    page = call(jira, "GET", f"{issue}/changelog", maxResults=2).json()
    assert page["nextPage"].startswith(f"{jira.url_for('jira')}{issue}/changelog?")
    histories = page["values"]
    while not page["isLast"]:
        page = follow(page["nextPage"])
        histories.extend(page["values"])
    assert [h["items"][0]["toString"] for h in histories] == [
        "Renamed once",
        "Renamed twice",
        "Renamed thrice",
    ]

    wanted = {"issueIdsOrKeys": ["OPS-5", "OPS-6"], "fieldIds": ["summary"], "maxResults": 2}
    bulk = call(jira, "POST", "/rest/api/3/changelog/bulkfetch", wanted)
    assert [len(i["changeHistories"]) for i in bulk.json()["issueChangeLogs"]] == [2]
    wanted["nextPageToken"] = bulk.json()["nextPageToken"]
    rest = call(jira, "POST", "/rest/api/3/changelog/bulkfetch", wanted)
    assert [len(i["changeHistories"]) for i in rest.json()["issueChangeLogs"]] == [1]
    assert "nextPageToken" not in rest.json()


def test_the_paged_field_list_filters_and_links_back(jira: Sandbox):
    custom = call(jira, "GET", "/rest/api/3/field/search", type="custom", maxResults=3).json()
    assert custom["total"] == 7
    names = [f["name"] for f in custom["values"]]
    while not custom["isLast"]:
        assert custom["nextPage"].startswith(jira.url_for("jira") + "/rest/api/3/field/search?")
        custom = follow(custom["nextPage"])
        names.extend(f["name"] for f in custom["values"])
    assert "Severity" in names
    assert len(names) == 7
    by_name = call(jira, "GET", "/rest/api/3/field/search", query="story").json()
    assert [f["id"] for f in by_name["values"]] == ["customfield_10012"]


def test_the_count_of_a_query_and_what_it_refuses(jira: Sandbox):
    everything = call(
        jira, "POST", "/rest/api/3/search/approximate-count", {"jql": "project = OPS"}
    )
    assert everything.json() == {"count": 40}
    jql = {"jql": "project = OPS AND status = Done"}
    done = call(jira, "POST", "/rest/api/3/search/approximate-count", jql).json()["count"]
    assert 0 < done < 40
    unbounded = call(jira, "POST", "/rest/api/3/search/approximate-count", {"jql": ""})
    assert unbounded.status_code == 400


def test_users_and_assignment(jira: Sandbox):
    lead = call(jira, "GET", "/rest/api/3/user/search", query="priya").json()[0]
    assert call(jira, "GET", "/rest/api/3/user", accountId=lead["accountId"]).json() == lead
    assert lead["self"].startswith(jira.url_for("jira") + "/rest/api/3/user?accountId=")
    assert call(jira, "GET", "/rest/api/3/user", accountId="nobody").status_code == 404

    assigned = call(
        jira, "PUT", "/rest/api/3/issue/OPS-2/assignee", {"accountId": lead["accountId"]}
    )
    assert assigned.status_code == 204
    issue = call(jira, "GET", "/rest/api/3/issue/OPS-2", fields="assignee").json()
    assert issue["fields"]["assignee"]["accountId"] == lead["accountId"]
    # "-1": the project's default assignee, which in this project is nobody.
    assert call(jira, "PUT", "/rest/api/3/issue/OPS-2/assignee", {"accountId": "-1"}).ok
    issue = call(jira, "GET", "/rest/api/3/issue/OPS-2", fields="assignee").json()
    assert issue["fields"]["assignee"] is None
    unknown = call(jira, "PUT", "/rest/api/3/issue/OPS-2/assignee", {"accountId": "nobody"})
    assert unknown.status_code == 400


def test_the_edit_screen_lists_what_edit_accepts(jira: Sandbox):
    search = {"jql": "project = OPS AND issuetype = Bug", "maxResults": 1}
    bugs = call(jira, "POST", "/rest/api/3/search/jql", search).json()
    bug = bugs["issues"][0]["id"]
    fields = call(jira, "GET", f"/rest/api/3/issue/{bug}/editmeta").json()["fields"]
    assert "project" not in fields
    assert fields["customfield_10011"]["required"] is True
    severities = [o["value"] for o in fields["customfield_10011"]["allowedValues"]]
    assert severities == ["Sev 1 - Critical", "Sev 2 - Major", "Sev 3 - Minor", "Sev 4 - Cosmetic"]
    assert fields["labels"]["operations"] == ["add", "set", "remove"]
