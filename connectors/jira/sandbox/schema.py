"""The Jira Cloud site the sandbox emulates: one software project, its workflow, issue
types, priorities, fields and create screens, and the account's credentials."""

from __future__ import annotations

import hashlib
from typing import Any

SANDBOX_EMAIL = "automation@northwind.example"
SANDBOX_TOKEN = "jira-sandbox-api-token"  # noqa: S105 - the sandbox's published test token
PROJECT = {"id": "10000", "key": "OPS", "name": "Operations", "projectTypeKey": "software"}
DEFAULT_TIME_ZONE = "Australia/Sydney"
SUMMARY_MAX = 255

STATUSES = {
    "10000": {"name": "To Do", "category": (2, "new", "blue-gray", "To Do")},
    "3": {"name": "In Progress", "category": (4, "indeterminate", "yellow", "In Progress")},
    "10001": {"name": "Done", "category": (3, "done", "green", "Done")},
}
INITIAL_STATUS = "10000"
# (transition id, name, from status ids, to status id)
WORKFLOW = (
    ("11", "Start Progress", ("10000",), "3"),
    ("21", "Stop Progress", ("3",), "10000"),
    ("31", "Done", ("3",), "10001"),
    ("41", "Reopen", ("10001",), "10000"),
)
ISSUE_TYPES = {
    "10001": {"name": "Task", "description": "A small, distinct piece of work."},
    "10002": {"name": "Bug", "description": "A problem or error."},
    "10003": {"name": "Story", "description": "A user story."},
}
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
DEFAULT_PRIORITY = "3"

CUSTOM_PLUGIN = "com.atlassian.jira.plugin.system.customfieldtypes:"
# id -> (name, custom type, schema, options {id: value})
CUSTOM_FIELDS: dict[str, tuple[str, str, dict[str, Any], dict[str, str]]] = {
    "customfield_10010": ("Customer Email", "textfield", {"type": "string"}, {}),
    "customfield_10011": (
        "Severity",
        "select",
        {"type": "option"},
        {
            "10100": "Sev 1 - Critical",
            "10101": "Sev 2 - Major",
            "10102": "Sev 3 - Minor",
            "10103": "Sev 4 - Cosmetic",
        },
    ),
    "customfield_10012": ("Story Points", "float", {"type": "number"}, {}),
    "customfield_10013": ("Root Cause", "textarea", {"type": "string"}, {}),
    "customfield_10014": (
        "Affected Areas",
        "multiselect",
        {"type": "array", "items": "option"},
        {
            "10110": "Billing",
            "10111": "Login",
            "10112": "API",
            "10113": "Mobile App",
            "10114": "Reporting",
            "10115": "Integrations",
        },
    ),
    "customfield_10015": ("Target Date", "datepicker", {"type": "date"}, {}),
    # Jira Software's sprint field: on the site, not on this project's screens.
    "customfield_10020": ("Sprint", "gh-sprint", {"type": "array", "items": "json"}, {}),
}
SYSTEM_FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    "summary": ("Summary", {"type": "string"}),
    "description": ("Description", {"type": "string"}),
    "issuetype": ("Issue Type", {"type": "issuetype"}),
    "project": ("Project", {"type": "project"}),
    "status": ("Status", {"type": "status"}),
    "priority": ("Priority", {"type": "priority"}),
    "assignee": ("Assignee", {"type": "user"}),
    "reporter": ("Reporter", {"type": "user"}),
    "labels": ("Labels", {"type": "array", "items": "string"}),
    "duedate": ("Due date", {"type": "date"}),
    "created": ("Created", {"type": "datetime"}),
    "updated": ("Updated", {"type": "datetime"}),
    "comment": ("Comment", {"type": "comments-page"}),
}
_COMMON_CREATE = (
    "summary",
    "issuetype",
    "project",
    "description",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "duedate",
    "customfield_10010",
    "customfield_10013",
    "customfield_10014",
    "customfield_10015",
)
SCREENS: dict[str, tuple[str, ...]] = {
    "10001": _COMMON_CREATE,
    "10002": (*_COMMON_CREATE, "customfield_10011"),
    "10003": (*_COMMON_CREATE, "customfield_10012"),
}
REQUIRED: dict[str, frozenset[str]] = {
    "10001": frozenset({"summary", "issuetype", "project"}),
    "10002": frozenset({"summary", "issuetype", "project", "customfield_10011"}),
    "10003": frozenset({"summary", "issuetype", "project"}),
}
NOT_SETTABLE = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
ISSUE_MISSING = "Issue does not exist or you do not have permission to see it."


def account_id(seed_text: str) -> str:
    """A Jira Cloud account id ("712020:<hex>"), stable for the same text."""
    return "712020:" + hashlib.sha256(seed_text.encode()).hexdigest()[:32]


def default_users() -> list[dict[str, Any]]:
    """The site's own users: the automation account the credentials belong to, and a lead."""
    return [
        {
            "accountId": account_id("automation"),
            "displayName": "Concord Automation",
            "emailAddress": SANDBOX_EMAIL,
            "timeZone": DEFAULT_TIME_ZONE,
        },
        {
            "accountId": account_id("lead"),
            "displayName": "Priya Raman",
            "emailAddress": "priya.raman@northwind.example",
            "timeZone": "Europe/London",
        },
    ]


def required_message(name: str) -> str:
    if name == "summary":
        return "You must specify a summary of the issue."
    label = CUSTOM_FIELDS[name][0] if name in CUSTOM_FIELDS else SYSTEM_FIELDS[name][0]
    return f"{label} is required."


def issue_key(number: int) -> str:
    return f"{PROJECT['key']}-{number}"
