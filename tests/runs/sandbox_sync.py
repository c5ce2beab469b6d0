"""A sync between two sandboxes, HubSpot contacts (A) <-> Zendesk users (B), for run tests."""

from __future__ import annotations

from typing import Any

from apps.connections.services import connection_create
from apps.syncs.models import Sync
from apps.syncs.services import sync_create
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN
from tests.sandbox_fixtures import Sandbox
from tests.syncs import factories as f

SEED_COUNTS = {
    "hubspot": {"contacts": 3, "companies": 0, "deals": 0, "tickets": 0},
    "zendesk": {"users": 2, "tickets": 0, "organizations": 0},
}


def hub_desk_sync(sandbox: Sandbox, *, seed_counts: dict | None = None, **settings: Any) -> Sync:
    """Seed both sandboxes (Zendesk's export lag off) and create the sync through the same
    services a user's request goes through. `settings` override the sync's defaults."""
    sandbox.admin.seed(1, counts=seed_counts or SEED_COUNTS)
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    ws = f.workspace()
    hubspot = connection_create(
        workspace=ws,
        name="HubSpot",
        kind="hubspot",
        values={"base_url": sandbox.url_for("hubspot"), "access_token": SANDBOX_TOKEN},
        # HubSpot dictates its webhook secret (the app's client secret); the sandbox plays
        # HubSpot and signs with whatever secret it is given with the subscription.
        webhook_secret="sandbox-hubspot-app-client-secret",
    )
    zendesk = connection_create(
        workspace=ws,
        name="Zendesk",
        kind="zendesk",
        values={
            "base_url": sandbox.url_for("zendesk"),
            "email": ADMIN_EMAIL,
            "api_token": API_TOKEN,
        },
    )
    defaults: dict[str, Any] = {
        "enabled": False,
        "interval_seconds": 3600,
        "safety_limit_share": None,
        "safety_limit_count": None,
    }
    return sync_create(
        workspace=ws,
        name="Contacts and users",
        connection_a=hubspot,
        object_type_a="contacts",
        connection_b=zendesk,
        object_type_b="users",
        mappings=[
            {"field_a": "email", "field_b": "email"},
            {"field_a": "firstname", "field_b": "name"},
        ],
        match_rule=[{"a": "email", "b": "email"}],
        **{**defaults, **settings},
    )
