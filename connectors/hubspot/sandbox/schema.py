"""HubSpot's CRM schema as the sandbox emulates it: object types, their properties (with
options, types and the custom ones a real portal has), and the value formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import JSON

PORTAL_ID = 14_000_001
APP_ID = 3_100_001


# objectType path segment -> (singular for webhooks, object type id, id base)
OBJECTS = {
    "contacts": ("contact", "0-1", 51),
    "companies": ("company", "0-2", 3_001),
    "deals": ("deal", "0-3", 7_001),
    "tickets": ("ticket", "0-5", 9_001),
}
TYPE_IDS = {type_id: name for name, (_, type_id, _) in OBJECTS.items()}
SINGULAR = {singular: name for name, (singular, _, _) in OBJECTS.items()}
MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "tickets": "hs_lastmodifieddate",
}
DEFAULT_PROPERTIES = {
    "contacts": ("email", "firstname", "lastname"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage"),
}
REQUIRED = {
    "contacts": (),
    "companies": (),
    "deals": ("dealname", "dealstage", "pipeline"),
    "tickets": ("subject", "hs_pipeline", "hs_pipeline_stage"),
}
NUMERIC_TYPES = ("number", "datetime", "date")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _prop(
    name: str,
    label: str,
    type_: str,
    field_type: str,
    *,
    options: list[tuple[str, str]] = (),  # type: ignore[assignment]
    read_only: bool = False,
    custom: bool = False,
    group: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": "",
        "groupName": group,
        "options": [
            {"label": lab, "value": val, "displayOrder": i, "hidden": False}
            for i, (val, lab) in enumerate(options)
        ],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": name == "email",
        "hidden": False,
        "hubspotDefined": not custom,
        "modificationMetadata": {
            "archivable": custom,
            "readOnlyDefinition": not custom,
            "readOnlyValue": read_only,
        },
        "formField": not read_only,
        "createdAt": "2021-03-01T09:00:00.000Z",
        "updatedAt": "2021-03-01T09:00:00.000Z",
    }


def _system(modified: str) -> list[dict[str, Any]]:
    return [
        _prop("createdate", "Create Date", "datetime", "date", read_only=True),
        _prop(modified, "Last Modified Date", "datetime", "date", read_only=True),
        _prop("hs_object_id", "Record ID", "number", "number", read_only=True),
    ]


LIFECYCLE = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
]
LEAD_STATUS = [
    ("NEW", "New"),
    ("OPEN", "Open"),
    ("IN_PROGRESS", "In Progress"),
    ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
]
INDUSTRY = [
    (v, v.replace("_", " ").title())
    for v in (
        "COMPUTER_SOFTWARE",
        "HOSPITAL_HEALTH_CARE",
        "FINANCIAL_SERVICES",
        "RETAIL",
        "LOGISTICS_AND_SUPPLY_CHAIN",
        "RENEWABLES_ENVIRONMENT",
        "MARKETING_AND_ADVERTISING",
        "EDUCATION_MANAGEMENT",
    )
]
DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
]
TICKET_STAGES = [("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed")]
DEAL_KINDS = ("renewal", "expansion", "new business")
PRIORITIES = [("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High"), ("URGENT", "Urgent")]

SCHEMA: dict[str, list[dict[str, Any]]] = {
    "contacts": [
        _prop("email", "Email", "string", "text", group="contactinformation"),
        _prop("firstname", "First Name", "string", "text", group="contactinformation"),
        _prop("lastname", "Last Name", "string", "text", group="contactinformation"),
        _prop("phone", "Phone Number", "string", "phonenumber", group="contactinformation"),
        _prop("company", "Company Name", "string", "text", group="contactinformation"),
        _prop("jobtitle", "Job Title", "string", "text", group="contactinformation"),
        _prop("city", "City", "string", "text", group="contactinformation"),
        _prop("country", "Country/Region", "string", "text", group="contactinformation"),
        _prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE),
        _prop("hs_lead_status", "Lead Status", "enumeration", "select", options=LEAD_STATUS),
        *_system("lastmodifieddate"),
        _prop(
            "preferred_channels",
            "Preferred channels",
            "enumeration",
            "checkbox",
            options=[("email", "Email"), ("phone", "Phone"), ("chat", "Chat")],
            custom=True,
        ),
        _prop("nps_score", "NPS score", "number", "number", custom=True),
        _prop(
            "vip",
            "VIP",
            "bool",
            "booleancheckbox",
            options=[("true", "Yes"), ("false", "No")],
            custom=True,
        ),
        _prop("renewal_date", "Renewal date", "date", "date", custom=True),
    ],
    "companies": [
        _prop("name", "Company name", "string", "text", group="companyinformation"),
        _prop("domain", "Company Domain Name", "string", "text", group="companyinformation"),
        _prop("industry", "Industry", "enumeration", "select", options=INDUSTRY),
        _prop("city", "City", "string", "text"),
        _prop("country", "Country/Region", "string", "text"),
        _prop("phone", "Phone Number", "string", "phonenumber"),
        _prop("numberofemployees", "Number of Employees", "number", "number"),
        _prop("annualrevenue", "Annual Revenue", "number", "number"),
        _prop("description", "Description", "string", "textarea"),
        *_system("hs_lastmodifieddate"),
        _prop(
            "account_tier",
            "Account tier",
            "enumeration",
            "select",
            options=[("gold", "Gold"), ("silver", "Silver"), ("bronze", "Bronze")],
            custom=True,
        ),
    ],
    "deals": [
        _prop("dealname", "Deal Name", "string", "text", group="dealinformation"),
        _prop("amount", "Amount", "number", "number", group="dealinformation"),
        _prop("dealstage", "Deal Stage", "enumeration", "radio", options=DEAL_STAGES),
        _prop(
            "pipeline", "Pipeline", "enumeration", "select", options=[("default", "Sales Pipeline")]
        ),
        _prop("closedate", "Close Date", "datetime", "date"),
        _prop("description", "Deal Description", "string", "textarea"),
        *_system("hs_lastmodifieddate"),
        _prop(
            "contract_type",
            "Contract type",
            "enumeration",
            "select",
            options=[("annual", "Annual"), ("monthly", "Monthly"), ("multi_year", "Multi-year")],
            custom=True,
        ),
    ],
    "tickets": [
        _prop("subject", "Ticket name", "string", "text", group="ticketinformation"),
        _prop("content", "Ticket description", "string", "textarea"),
        _prop(
            "hs_pipeline", "Pipeline", "enumeration", "select", options=[("0", "Support Pipeline")]
        ),
        _prop("hs_pipeline_stage", "Ticket status", "enumeration", "select", options=TICKET_STAGES),
        _prop("hs_ticket_priority", "Priority", "enumeration", "select", options=PRIORITIES),
        *_system("hs_lastmodifieddate"),
        _prop(
            "product_area",
            "Product area",
            "enumeration",
            "select",
            options=[
                ("billing", "Billing"),
                ("login", "Login"),
                ("reporting", "Reporting"),
                ("integrations", "Integrations"),
            ],
            custom=True,
        ),
    ],
}
PROPERTIES = {t: {p["name"]: p for p in props} for t, props in SCHEMA.items()}


def iso_ms(ms: int) -> str:
    """HubSpot's timestamp format: 2024-01-15T10:00:00.123Z."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: JSON) -> int | None:
    """Epoch milliseconds from a ms number/string or an ISO date-time; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
