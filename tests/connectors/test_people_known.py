"""Which people a system has (Connector.people_known), against the sandboxes: a user field
is written only with people the system knows, so that the engine can let an unknown one
wait instead of failing the record's write."""

from __future__ import annotations

import pytest

from connectors import registry
from connectors.jira import sandbox as jira_sandbox
from connectors.jira.sandbox.schema import SANDBOX_EMAIL
from tests.connectors.test_pipedrive import ROSA
from tests.connectors.test_pipedrive import build as pipedrive_build
from tests.sandbox_fixtures import Sandbox

pytestmark = pytest.mark.usefixtures("sandbox")


def test_jira_knows_the_users_its_search_shows(sandbox: Sandbox):
    connector = registry.build("jira", jira_sandbox.contract().config(sandbox.url_for("jira")))
    try:
        known = connector.people_known(
            ["PRIYA.RAMAN@northwind.example", SANDBOX_EMAIL, "nobody@nowhere.example"]
        )
    finally:
        connector.close()
    assert known == {"PRIYA.RAMAN@northwind.example", SANDBOX_EMAIL}


def test_pipedrive_knows_the_companys_users_by_email_or_id(sandbox: Sandbox):
    connector = pipedrive_build(sandbox)
    try:
        known = connector.people_known([ROSA.upper(), "nobody@nowhere.example"])
    finally:
        connector.close()
    assert known == {ROSA.upper()}


def test_a_system_that_cannot_tell_says_so():
    connector = registry.build("memory", {"base_url": "http://127.0.0.1/memory", "store": "x"})
    assert connector.people_known(["octocat"]) is None
