"""Links to a record in its system's web interface (Connector.record_url), from the
configuration alone; and the sandboxes answer those links with the record's page."""

from __future__ import annotations

import pytest
import requests

from connectors import registry
from connectors.hubspot.sandbox import SANDBOX_TOKEN as HUBSPOT_TOKEN
from connectors.jira.sandbox import SANDBOX_EMAIL as JIRA_EMAIL
from connectors.jira.sandbox import SANDBOX_TOKEN as JIRA_TOKEN
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN


def test_hubspot_links_need_the_account_id():
    without = registry.build("hubspot", {"access_token": "pat-x"})
    assert without.record_url("contacts", "51") is None
    real = registry.build("hubspot", {"access_token": "pat-x", "portal_id": " 21436587 "})
    assert real.record_url("contacts", "51") == (
        "https://app.hubspot.com/contacts/21436587/record/0-1/51"
    )
    assert (
        real.record_url("tickets", "9") == "https://app.hubspot.com/contacts/21436587/record/0-5/9"
    )
    assert real.record_url("widgets", "9") is None
    with pytest.raises(Exception, match="digits only"):
        registry.build("hubspot", {"access_token": "pat-x", "portal_id": "app.hubspot.com/1"})


def test_zendesk_links_open_the_agent_interface():
    zendesk = registry.build("zendesk", {"subdomain": "acme", "email": "a@x.io", "api_token": "t"})
    assert zendesk.record_url("users", "7") == "https://acme.zendesk.com/agent/users/7"
    assert zendesk.record_url("tickets", "12") == "https://acme.zendesk.com/agent/tickets/12"
    assert zendesk.record_url("groups", "1") is None


def test_jira_links_need_the_issue_key():
    jira = registry.build(
        "jira",
        {
            "base_url": "https://acme.atlassian.net",
            "email": "a@x.io",
            "api_token": "t",
            "project_key": "OPS",
        },
    )
    assert jira.record_url("issues", "10042", {"key": "OPS-7"}) == (
        "https://acme.atlassian.net/browse/OPS-7"
    )
    assert jira.record_url("issues", "10042") is None  # the numeric id is not an address
    assert jira.record_url("issues", "10042", {"key": "<script>"}) is None


def test_the_sandboxes_answer_record_links_with_the_record(sandbox):
    configs = {
        "hubspot": {"access_token": HUBSPOT_TOKEN, "portal_id": "14000001"},
        "zendesk": {"email": ADMIN_EMAIL, "api_token": API_TOKEN},
        "jira": {"email": JIRA_EMAIL, "api_token": JIRA_TOKEN, "project_key": "OPS"},
    }
    types = {"hubspot": "contacts", "zendesk": "users", "jira": "issues"}
    for kind, values in configs.items():
        connector = registry.build(kind, {"base_url": sandbox.url_for(kind), **values})
        try:
            record = next(iter(connector.changes(types[kind], None))).records[0]
            known = {"key": record.fields.get("key")}
            url = connector.record_url(types[kind], record.id, known)
        finally:
            connector.close()
        assert url is not None, kind
        page = requests.get(url, timeout=5)  # a person's browser: no API credentials
        assert page.status_code == 200, (kind, page.text[:200])
        assert page.headers["content-type"].startswith("text/html")
        shown = record.fields.get("email") or record.fields.get("summary")
        assert shown, kind
        assert str(shown) in page.text, kind
        missing = requests.get(url.replace(f"/{record.id}", "/999999999"), timeout=5)
        if kind != "jira":
            assert missing.status_code == 404, kind
