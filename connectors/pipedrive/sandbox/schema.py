"""The Pipedrive sandbox's fixed account: its company, users, API tokens, labels and fields.

Custom fields are keyed by 40-character hashes, as Pipedrive keys them ("All custom fields
are referenced as randomly generated 40-character hashes", the v2 reference); here they are
the SHA-1 of a fixed name, so that they stay the same across restarts and seeds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

COMPANY_ID = 7_410_001
COMPANY_NAME = "Concord Sandbox Ltd"
COMPANY_DOMAIN = "concord-sandbox"

ADMIN_TOKEN = "pd-sandbox-0000000000000000000000000000admin"  # noqa: S105 - sandbox credential
REGULAR_TOKEN = "pd-sandbox-00000000000000000000000000regular"  # noqa: S105
NO_CONTACTS_TOKEN = "pd-sandbox-000000000000000000000nocontacts"  # noqa: S105
# Webhook deliveries to subscriptions registered through /_sandbox/webhooks authenticate with
# this HTTP Basic user name and the subscription's secret as the password.
WEBHOOK_USER = "concord"

# The regular user may read persons and organizations but not edit or delete them (a
# permission set without "edit/delete contacts"): Pipedrive answers 403 to such writes.
# The sales-app-less user may log in but see no contacts: 403 to every v2 call.
USERS: list[dict[str, Any]] = [
    {"id": 18_001, "name": "Sandbox Admin", "email": "admin@concord-sandbox.example",
     "admin": True, "token": ADMIN_TOKEN},
    {"id": 18_002, "name": "Rosa Costa", "email": "rosa.costa@concord-sandbox.example",
     "admin": False, "token": None},
    {"id": 18_003, "name": "Kenji Ito", "email": "kenji.ito@concord-sandbox.example",
     "admin": False, "token": REGULAR_TOKEN},
    {"id": 18_004, "name": "Uma Varga", "email": "uma.varga@concord-sandbox.example",
     "admin": False, "token": NO_CONTACTS_TOKEN, "contacts": False},
]  # fmt: skip
USER_BY_ID = {u["id"]: u for u in USERS}
USER_BY_TOKEN = {u["token"]: u for u in USERS if u["token"]}

PERSON_LABELS = [(1, "Customer", "green"), (2, "Hot lead", "red"), (3, "Warm lead", "yellow"),
                 (4, "Cold lead", "blue")]  # fmt: skip
ORG_LABELS = [(5, "Customer", "green"), (6, "Partner", "purple"), (7, "Prospect", "gray")]
VISIBILITY = (1, 3, 5, 7)
EMAIL_LABELS = ("work", "home", "other")
PHONE_LABELS = ("work", "home", "mobile", "other")


def field_key(name: str) -> str:
    """A custom field's 40-character hash key."""
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()


TIER = field_key("person.tier")
INTERESTS = field_key("person.interests")
NPS = field_key("person.nps_score")
CONTRACT_VALUE = field_key("person.contract_value")
RENEWAL = field_key("person.renewal_date")
SUPPORT_NOTES = field_key("person.support_notes")
INDUSTRY = field_key("organization.industry")
EMPLOYEES = field_key("organization.employees")
WEBSITE = field_key("organization.website")

# (code, label, type, options): options are (id, label) pairs for enum and set fields.
CUSTOM_FIELDS: dict[str, list[tuple[str, str, str, list[tuple[int, str]]]]] = {
    "persons": [
        (TIER, "Tier", "enum", [(31, "Gold"), (32, "Silver"), (33, "Bronze")]),
        (INTERESTS, "Interests", "set", [(41, "Analytics"), (42, "Integrations"),
                                         (43, "Mobile")]),
        (NPS, "NPS score", "int", []),
        (CONTRACT_VALUE, "Contract value", "double", []),
        (RENEWAL, "Renewal date", "date", []),
        (SUPPORT_NOTES, "Notes for support", "text", []),
    ],
    "organizations": [
        (INDUSTRY, "Industry", "enum", [(51, "Software"), (52, "Retail"), (53, "Health"),
                                        (54, "Logistics")]),
        (EMPLOYEES, "Employees", "int", []),
        (WEBSITE, "Website", "varchar", []),
    ],
}  # fmt: skip
CUSTOM_BY_CODE = {
    kind: {code: (label, ftype, options) for code, label, ftype, options in fields}
    for kind, fields in CUSTOM_FIELDS.items()
}

# The system fields each field list reports: (code, label, type, options).
SYSTEM_FIELDS: dict[str, list[tuple[str, str, str, list[tuple[int, str]]]]] = {
    "persons": [
        ("name", "Name", "varchar", []),
        ("first_name", "First name", "varchar", []),
        ("last_name", "Last name", "varchar", []),
        ("email", "Email", "varchar", []),
        ("phone", "Phone", "phone", []),
        ("owner_id", "Owner", "user", []),
        ("org_id", "Organization", "org", []),
        ("label_ids", "Labels", "set", [(i, label) for i, label, _ in PERSON_LABELS]),
        ("visible_to", "Visible to", "visible_to", []),
        ("add_time", "Person created", "date", []),
        ("update_time", "Update time", "date", []),
    ],
    "organizations": [
        ("name", "Name", "varchar", []),
        ("owner_id", "Owner", "user", []),
        ("label_ids", "Labels", "set", [(i, label) for i, label, _ in ORG_LABELS]),
        ("address", "Address", "address", []),
        ("visible_to", "Visible to", "visible_to", []),
        ("add_time", "Organization created", "date", []),
        ("update_time", "Update time", "date", []),
    ],
}
SINGULAR = {"persons": "person", "organizations": "organization"}


def iso(seconds: float) -> str:
    """Pipedrive's v2 timestamps: RFC 3339 in UTC, to the second ("2025-01-01T10:20:00Z")."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(seconds: float) -> str:
    """v1's "YYYY-MM-DD HH:MM:SS" (UTC)."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(text: str) -> int | None:
    """Epoch seconds of an RFC 3339 time, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp())
