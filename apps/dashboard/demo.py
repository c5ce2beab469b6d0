"""The demo that `make run` seeds in development: connections to the local sandboxes and
three syncs between them, created through the same services a person's clicks go through.

`demo_seed` needs the sandbox server to answer: the demo credentials (GET
/_sandbox/connections), connection checks, field discovery (every mapping is validated by
sync_create exactly as a user's would be) and webhook registration all talk to it. The app
imports no sandbox code: it speaks to the sandbox's admin API over HTTP, like to any other
server. Under `make run` the sandbox starts beside the worker, after bootstrap, so
bootstrap does not call this directly: it enqueues apps.dashboard.tasks.demo_seed, which
retries with backoff while the sandbox is not up yet (SandboxUnavailable).

Idempotent: connections and syncs are looked up by name in the workspace and only the
missing ones are created; a demo connection whose sandbox URL changed (another
SANDBOX_PORT) is pointed at the new one; webhook subscriptions are registered again every
time, which the sandbox treats as an overwrite of that URL's subscription (other workspaces'
subscriptions to the same sandbox stay). Nothing is ever deleted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from apps.accounts.models import Workspace
from apps.connections.models import Connection, new_webhook_secret
from apps.connections.services import (
    connection_check,
    connection_create,
    connection_update,
    connection_webhook_url,
)
from apps.syncs.models import Sync
from apps.syncs.services import sync_create

logger = logging.getLogger(__name__)

DEMO_WORKSPACE_NAME = "Demo workspace"

# Connection name -> kind. The credentials come from the running sandbox
# (GET /_sandbox/connections), which knows what it accepts.
DEMO_CONNECTIONS: dict[str, str] = {
    "HubSpot (sandbox)": "hubspot",
    "Zendesk (sandbox)": "zendesk",
    "Jira (sandbox)": "jira",
    "GitHub (sandbox)": "github",
}

CONTACTS_SYNC = "HubSpot contacts <-> Zendesk users"
TICKETS_SYNC = "Jira issues <-> Zendesk tickets"
ISSUES_SYNC = "GitHub issues <-> Jira issues"

ADMIN_TIMEOUT = 10.0  # seconds for one call to the sandbox's admin API

# Polling is the safety net behind the webhooks; a minute keeps the demo lively without
# flooding the run log. (Zendesk's incremental export holds changes back for a minute, so
# polling alone sees a Zendesk edit after one to two minutes; webhooks within seconds.)
DEMO_INTERVAL_SECONDS = 60

JIRA_TO_ZENDESK_PRIORITY = {
    "Highest": "urgent",
    "High": "high",
    "Medium": "normal",
    "Low": "low",
    "Lowest": "low",
}
ZENDESK_TO_JIRA_PRIORITY = {"urgent": "Highest", "high": "High", "normal": "Medium", "low": "Low"}
JIRA_TO_ZENDESK_STATUS = {"To Do": "open", "In Progress": "pending", "Done": "solved"}
GITHUB_TO_JIRA_STATUS = {"open": "To Do", "closed": "Done"}
JIRA_TO_GITHUB_STATE = {"To Do": "open", "In Progress": "open", "Done": "closed"}


def _contacts_sync(connections: dict[str, Connection]) -> dict[str, Any]:
    """HubSpot contacts (A) <-> Zendesk users (B), matched on email.

    Zendesk keeps one `name`; mappings have no join/split transform, so it pairs with
    HubSpot's first name (a user who came from Zendesk shows their full name there). HubSpot's
    `company` is free text while a Zendesk user's organisation is a reference to an
    organisation record, so they are not mapped. Agents and admins are Zendesk staff, not
    customers: only end users are in scope.
    """
    return {
        "name": CONTACTS_SYNC,
        "connection_a": connections["hubspot"],
        "object_type_a": "contacts",
        "connection_b": connections["zendesk"],
        "object_type_b": "users",
        "mappings": [
            {"field_a": "email", "field_b": "email"},
            {"field_a": "firstname", "field_b": "name", "default_b": "(no name)"},
            {"field_a": "phone", "field_b": "phone"},
            {"field_a": "vip", "field_b": "custom_vip"},
        ],
        "filters": [{"side": "b", "field": "role", "operator": "equals", "value": "end-user"}],
        "match_rule": [{"a": "email", "b": "email", "normalise": "email"}],
        # The CRM is the reference for contact details when a pair is first matched.
        "initial_policy": "a_wins",
        # After that, a field changed differently on both sides waits for a person on the
        # review screen: the demo's activity simulator makes such conflicts now and then
        # (apps/dashboard/simulator.py), so that a newcomer sees one to decide.
        "conflict_policy": "manual",
        "enabled": True,
        "interval_seconds": DEMO_INTERVAL_SECONDS,
    }


def _tickets_sync(connections: dict[str, Connection]) -> dict[str, Any]:
    """Jira issues (A) <-> Zendesk tickets (B), no match rule (every record gets a partner).

    A Zendesk ticket's description is its first comment: required on create and refused on
    update. So it travels one way, Zendesk -> Jira, and a ticket created from an issue gets
    the issue's key as its description (the key never changes, so nothing ever tries to
    update it). Closed Zendesk tickets refuse every update and stay out of scope.

    A ticket's requester becomes the issue's reporter: the Zendesk user's email names the
    Jira user (a person Jira does not know is a warning in the run log and waits for an
    entry in the people table). One way: in Jira the reporter of an issue made by Concord
    is Concord's own account, which means nothing as a Zendesk requester.
    """
    return {
        "name": TICKETS_SYNC,
        "connection_a": connections["jira"],
        "object_type_a": "issues",
        "connection_b": connections["zendesk"],
        "object_type_b": "tickets",
        "mappings": [
            {"field_a": "summary", "field_b": "subject", "default_a": "(no subject)"},
            {"field_a": "description", "field_b": "description", "direction": "b_to_a"},
            {"field_a": "key", "field_b": "description", "direction": "a_to_b"},
            {
                "field_a": "priority",
                "field_b": "priority",
                "value_map_a_to_b": JIRA_TO_ZENDESK_PRIORITY,
                "value_map_b_to_a": ZENDESK_TO_JIRA_PRIORITY,
            },
            {
                "field_a": "status",
                "field_b": "status",
                "direction": "a_to_b",
                "value_map_a_to_b": JIRA_TO_ZENDESK_STATUS,
            },
            {"field_a": "reporter", "field_b": "requester_id", "direction": "b_to_a"},
        ],
        "filters": [{"side": "b", "field": "status", "operator": "not_in", "value": ["closed"]}],
        # The conversation too: a comment on either side appears once on the other, and a
        # Jira comment restricted to a role becomes a Zendesk private note.
        "comments": "both",
        "comments_internal": True,
        "enabled": True,
        "interval_seconds": DEMO_INTERVAL_SECONDS,
    }


def _issues_sync(connections: dict[str, Connection]) -> dict[str, Any]:
    """GitHub issues (A) <-> Jira issues (B), no match rule (every record gets a partner;
    the sandboxes draw their titles from one short list, so a title match would pair
    unrelated issues): reports taken on GitHub are planned in Jira, and what Jira decides
    shows on GitHub.

    GitHub's open/closed and Jira's workflow meet through value maps (an issue in progress
    in Jira is still open on GitHub). Labels travel one way, GitHub -> Jira: Jira takes any
    label, while a GitHub label must be one of the repository's (the engine refuses others).
    The conversation goes both ways (neither system has private notes Concord can write).
    """
    return {
        "name": ISSUES_SYNC,
        "connection_a": connections["github"],
        "object_type_a": "issues",
        "connection_b": connections["jira"],
        "object_type_b": "issues",
        "mappings": [
            {"field_a": "title", "field_b": "summary", "default_a": "(no summary)"},
            {"field_a": "body", "field_b": "description"},
            {"field_a": "labels", "field_b": "labels", "direction": "a_to_b"},
            {
                "field_a": "state",
                "field_b": "status",
                "value_map_a_to_b": GITHUB_TO_JIRA_STATUS,
                "value_map_b_to_a": JIRA_TO_GITHUB_STATE,
            },
        ],
        "conflict_policy": "manual",
        "comments": "both",
        "enabled": True,
        "interval_seconds": DEMO_INTERVAL_SECONDS,
    }


DEMO_SYNCS = (_contacts_sync, _tickets_sync, _issues_sync)


class DemoError(Exception):
    """The demo could not be seeded; the message says what failed."""


class SandboxUnavailable(DemoError):
    """The sandbox server does not answer (yet): worth retrying."""


@dataclass
class DemoResult:
    """What one demo_seed call did. Names of rows created now, and webhooks registered."""

    connections_created: list[str] = field(default_factory=list)
    syncs_created: list[str] = field(default_factory=list)
    webhooks: dict[str, str] = field(default_factory=dict)  # kind -> target URL

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections_created": self.connections_created,
            "syncs_created": self.syncs_created,
            "webhooks": self.webhooks,
        }


def sandbox_url_default() -> str:
    """Where `make run` starts the sandbox: http://127.0.0.1:$SANDBOX_PORT (8100 by default;
    settings.CONCORD_SANDBOX_URL)."""
    return settings.CONCORD_SANDBOX_URL


def demo_workspace() -> Workspace | None:
    """The workspace bootstrap made for the first user (the oldest one with the demo name)."""
    return Workspace.objects.filter(name=DEMO_WORKSPACE_NAME).order_by("pk").first()


def sandbox_wait(sandbox_url: str, *, timeout: float) -> None:
    """Return once the sandbox at `sandbox_url` answers; raise SandboxUnavailable when it
    still does not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.25
    with requests.Session() as session:
        while True:
            try:
                _served(session, sandbox_url.rstrip("/"), timeout=5.0)
                return
            except SandboxUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def demo_seed(
    *, workspace: Workspace, sandbox_url: str, public_url: str | None = None
) -> DemoResult:
    """Make sure `workspace` has the demo connections (checked), webhooks registered with
    the sandbox at `sandbox_url` ("http://127.0.0.1:8100") and the enabled demo syncs.

    Webhook targets are on `public_url`, CONCORD_PUBLIC_URL by default. (Under honcho only
    the first process sees the real PORT, so a worker's CONCORD_PUBLIC_URL default can be
    wrong: bootstrap passes its own.)

    Raises SandboxUnavailable when the sandbox does not answer, DemoError when it answers
    but refuses (a credential, a check, a webhook registration), and SyncError or
    ConnectionError from the services when a demo definition no longer validates.
    """
    sandbox_url = sandbox_url.rstrip("/")
    result = DemoResult()
    with requests.Session() as session:
        served = _served(session, sandbox_url, timeout=ADMIN_TIMEOUT)
        connections: dict[str, Connection] = {}
        for name, kind in DEMO_CONNECTIONS.items():
            if kind not in served:
                raise DemoError(f"the sandbox at {sandbox_url} does not serve {kind}")
            # The base URL is where this process reached the sandbox (the worker runs on
            # the same machine), whatever address the sandbox saw the request come in on.
            values = {**served[kind]["config"], "base_url": f"{sandbox_url}/{kind}"}
            connection, created = _connection(workspace, name, kind, values)
            if created:
                result.connections_created.append(name)
            ok, message = connection_check(connection)
            if not ok:
                raise DemoError(f"the demo connection {name!r} does not work: {message}")
            url = connection_webhook_url(connection, public_url=public_url)
            subscription = {"vendor": kind, "url": url, "secret": connection.webhook_secret}
            _admin(session, sandbox_url, "POST", "webhooks", json=subscription)
            result.webhooks[kind] = url
            connections[kind] = connection
        for definition in DEMO_SYNCS:
            values = definition(connections)
            if Sync.objects.for_workspace(workspace).filter(name=values["name"]).exists():
                continue
            sync_create(workspace=workspace, **values)
            result.syncs_created.append(values["name"])
    logger.info("demo seeded in workspace %s: %s", workspace.pk, result.as_dict())
    return result


def _served(session: requests.Session, sandbox_url: str, *, timeout: float) -> dict[str, Any]:
    """{kind: {"base_url", "config"}} for every vendor the sandbox serves.

    Raises SandboxUnavailable when the sandbox is not up, DemoError when it refuses.
    """
    served = _admin(session, sandbox_url, "GET", "connections", timeout=timeout)
    if not isinstance(served, dict):
        raise DemoError(f"the sandbox at {sandbox_url} answered GET /_sandbox/connections oddly")
    return served


def _admin(
    session: requests.Session,
    sandbox_url: str,
    method: str,
    path: str,
    *,
    timeout: float = ADMIN_TIMEOUT,
    **kwargs: Any,
) -> Any:
    """One call to the sandbox's admin API (/_sandbox/...), its JSON answer.

    Raises SandboxUnavailable when the sandbox does not answer, DemoError when it refuses.
    """
    try:
        response = session.request(
            method, f"{sandbox_url}/_sandbox/{path}", timeout=timeout, **kwargs
        )
    except requests.RequestException as exc:
        raise SandboxUnavailable(f"the sandbox at {sandbox_url} does not answer: {exc}") from exc
    if response.status_code >= 300:
        raise DemoError(
            f"the sandbox refused: {method} /_sandbox/{path}: {response.status_code} "
            f"{response.text[:300]}"
        )
    try:
        return response.json()
    except ValueError as exc:
        raise DemoError(f"the sandbox answered {method} /_sandbox/{path} without JSON") from exc


def _connection(
    workspace: Workspace, name: str, kind: str, values: dict[str, Any]
) -> tuple[Connection, bool]:
    existing = Connection.objects.for_workspace(workspace).filter(name=name).first()
    if existing is None:
        # The sandbox signs as the system, with whatever secret it is given: the demo chooses
        # one for every kind, HubSpot's "app client secret" included.
        created = connection_create(
            workspace=workspace,
            name=name,
            kind=kind,
            values=values,
            webhook_secret=new_webhook_secret(),
        )
        return created, True
    if existing.kind != kind:
        raise DemoError(f"the connection {name!r} exists with kind {existing.kind!r}, not {kind}")
    if existing.config.get("base_url") != values["base_url"]:
        # Another SANDBOX_PORT than last time: follow the sandbox.
        existing = connection_update(existing, values={"base_url": values["base_url"]})
    return existing, False
