"""A stateful emulator of the HubSpot CRM v3 API (contacts, companies, deals, tickets).

It follows HubSpot's public API reference (developers.hubspot.com/docs/api-reference, pages
named per endpoint below) in what a sync connector depends on:

- Objects as {id, properties, createdAt, updatedAt, archived}, every property value a string
  (numbers "17", booleans "true", multi-select "a;b"), emails lower-cased, unset properties
  null; ids are numeric strings.
- The last-modified property: `lastmodifieddate` on contacts, `hs_lastmodifieddate` on the
  others; writes in one batch share one millisecond, as they do in HubSpot.
- Search: filter groups (OR of ANDs), the documented operators, one sort, `limit` <= 200,
  `after` as an offset, and the 10,000-result cap: paging to `after` >= 10,000 answers 400.
- Batch endpoints: at most 100 inputs. A validation error fails the whole batch with 400
  unless every input carries an `objectWriteTraceId`, in which case the answer is 207
  multi-status whose `errors` name the failing inputs by trace id (HubSpot's "multi-status
  error handling"). Results come back in no guaranteed order (here: reversed on purpose).
- Errors as HubSpot's JSON: {status: "error", message, correlationId, category[, errors]}.
- Rate limits of a Free/Starter private app: 100 requests per 10 s burst, 250,000 per day,
  and 5 search requests per second. 429s carry the policy name and a Retry-After.
- Private-app bearer tokens, with scopes: a read-only token gets 403 MISSING_SCOPES on writes.
- Webhooks: creation, propertyChange (one event per changed property) and deletion events,
  up to 100 per POST, signed with X-HubSpot-Signature-v3 (and the legacy v1 signature).
"""

from __future__ import annotations

import base64
import bisect
import copy
import hashlib
import hmac
import itertools
import json
import operator
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from connectors.sandbox import (
    BadRequest,
    ContractCase,
    Delivery,
    HttpError,
    RateLimit,
    Request,
    Response,
    VendorSandbox,
    WebhookTarget,
    route,
)
from connectors.sandbox.data import FakeData

JSON = Any

SANDBOX_TOKEN = "pat-na1-00000000-0000-4000-8000-sandbox00001"  # noqa: S105 - sandbox credential
READONLY_TOKEN = "pat-na1-00000000-0000-4000-8000-readonly0001"  # noqa: S105
PORTAL_ID = 14_000_001
APP_ID = 3_100_001
SEARCH_CAP = 10_000
BATCH_MAX = 100
SEARCH_LIMIT_MAX = 200
LIST_LIMIT_MAX = 100
WEBHOOK_EVENTS_PER_REQUEST = 100

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
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq, "LT": operator.lt, "LTE": operator.le, "GT": operator.gt,
    "GTE": operator.ge, "NEQ": operator.ne, "BETWEEN": operator.le,
}  # fmt: skip
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


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


def decode_uri(uri: str) -> str:
    for encoded, char in URI_DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


class Invalid(Exception):
    """One property value refused: HubSpot's per-property error (code, property, message)."""

    def __init__(self, code: str, prop: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.prop = prop
        self.message = message


class HubSpotSandbox(VendorSandbox):
    kind = "hubspot"
    rate_limits = {
        "ten_secondly_rolling": RateLimit(100, 10.0),
        "daily": RateLimit(250_000, 86_400.0),
        "search_secondly": RateLimit(5, 1.0),
    }
    default_limits = ("ten_secondly_rolling", "daily")

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.tokens: dict[str, str] = {SANDBOX_TOKEN: "write", READONLY_TOKEN: "read"}
        self.reset()

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        self.search_cap = SEARCH_CAP
        # records[type][id] = {"id", "properties": {...}, "created", "modified", "archived",
        # "archived_at"}; timestamps in epoch ms.
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECTS}
        self.next_id = {t: base for t, (_, _, base) in OBJECTS.items()}
        self.event_seq = 1_000_001
        self.emails: dict[str, str] = {}  # live contacts by email, HubSpot's unique key
        # live records per type as sorted (modified ms, id): the change-feed index
        self.order: dict[str, list[tuple[int, int]]] = {t: [] for t in OBJECTS}

    def dump(self) -> JSON:
        return {
            "records": self.records,
            "next_id": self.next_id,
            "event_seq": self.event_seq,
            "search_cap": self.search_cap,
        }

    def load(self, state: JSON) -> None:
        self.records = state["records"]
        self.next_id = state["next_id"]
        self.event_seq = state["event_seq"]
        self.search_cap = state.get("search_cap", SEARCH_CAP)
        self._rebuild_index()
        self.emails = {
            stored["properties"]["email"]: stored["id"]
            for stored in self.records["contacts"].values()
            if not stored["archived"] and stored["properties"].get("email")
        }

    def settings(self) -> dict[str, JSON]:
        return {
            "search_cap": self.search_cap,
            "tokens": {"write": SANDBOX_TOKEN, "read": READONLY_TOKEN},
        }

    def configure(self, values: Mapping[str, JSON]) -> None:
        for name, value in values.items():
            if name == "search_cap":
                if not isinstance(value, int) or value < 1:
                    raise BadRequest("search_cap must be a positive integer")
                self.search_cap = value
            else:
                raise BadRequest(f"unknown hubspot setting {name!r}")

    def seed(self, seed: int, counts: Mapping[str, int] | None = None) -> None:
        self.reset()
        fake = FakeData(seed)
        wanted = {"contacts": 40, "companies": 15, "deals": 20, "tickets": 25}
        for name, count in (counts or {}).items():
            if name not in wanted:
                raise BadRequest(f"hubspot has no object type {name!r} to seed")
            wanted[name] = count
        now_ms = int(self.context.now() * 1000)
        year_ago = now_ms - 365 * 86_400_000
        companies: list[tuple[str, str]] = []
        for _ in range(wanted["companies"]):
            name, domain = fake.company()
            city, country = fake.city()
            companies.append((name, domain))
            self._seed_one(
                fake,
                "companies",
                year_ago,
                now_ms,
                {
                    "name": name,
                    "domain": domain,
                    "industry": fake.industry(),
                    "city": city,
                    "country": country,
                    "phone": fake.phone(),
                    "numberofemployees": str(fake.random.randrange(5, 5000)),
                    "annualrevenue": str(fake.amount(100_000, 50_000_000)),
                    "account_tier": fake.choice(("gold", "silver", "bronze")),
                },
            )
        for n in range(wanted["contacts"]):
            first, last = fake.person()
            company, domain = fake.choice(companies) if companies else fake.company()
            city, country = fake.city()
            self._seed_one(
                fake,
                "contacts",
                year_ago,
                now_ms,
                {
                    "email": fake.email(first, last, domain, n),
                    "firstname": first,
                    "lastname": last,
                    "phone": fake.phone(),
                    "company": company,
                    "jobtitle": fake.job_title(),
                    "city": city,
                    "country": country,
                    "lifecyclestage": fake.weighted(
                        [("lead", 5), ("customer", 3), ("opportunity", 2), ("subscriber", 1)]
                    ),
                    "hs_lead_status": fake.choice([v for v, _ in LEAD_STATUS]),
                    "nps_score": str(fake.random.randrange(0, 11)),
                    "vip": fake.choice(("true", "false")),
                },
            )
        for _ in range(wanted["deals"]):
            company, _domain = fake.choice(companies) if companies else fake.company()
            close = fake.timestamp(now_ms / 1000, now_ms / 1000 + 180 * 86_400)
            self._seed_one(
                fake,
                "deals",
                year_ago,
                now_ms,
                {
                    "dealname": f"{company} - {fake.choice(DEAL_KINDS)}",
                    "amount": str(fake.amount()),
                    "pipeline": "default",
                    "dealstage": fake.choice([v for v, _ in DEAL_STAGES]),
                    "closedate": iso_ms(int(close * 1000)),
                    "contract_type": fake.choice(("annual", "monthly", "multi_year")),
                },
            )
        for _ in range(wanted["tickets"]):
            self._seed_one(
                fake,
                "tickets",
                year_ago,
                now_ms,
                {
                    "subject": fake.ticket_subject(),
                    "content": fake.paragraph(),
                    "hs_pipeline": "0",
                    "hs_pipeline_stage": fake.choice(("1", "2", "3", "4")),
                    "hs_ticket_priority": fake.choice([v for v, _ in PRIORITIES]),
                    "product_area": fake.choice(("billing", "login", "reporting", "integrations")),
                },
            )

    def _seed_one(
        self, fake: FakeData, object_type: str, start: int, end: int, props: dict[str, str]
    ) -> None:
        created = int(fake.timestamp(start / 1000, end / 1000) * 1000)
        modified = int(fake.timestamp(created / 1000, end / 1000) * 1000)
        self._insert(object_type, props, created, modified)

    def _insert(
        self, object_type: str, props: dict[str, str], created: int, modified: int
    ) -> dict[str, Any]:
        record_id = str(self.next_id[object_type])
        self.next_id[object_type] += 1
        stored = {
            "id": record_id,
            "properties": dict(props),
            "created": created,
            "modified": modified,
            "archived": False,
            "archived_at": None,
        }
        self.records[object_type][record_id] = stored
        self._index(object_type, stored)
        if object_type == "contacts" and stored["properties"].get("email"):
            self.emails[stored["properties"]["email"]] = record_id
        return stored

    # -- protocol hooks --------------------------------------------------------------------

    def authenticate(self, request: Request) -> str | Response:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            return self._error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        return token

    def error(self, status: int, message: str) -> Response:
        category = {
            400: "VALIDATION_ERROR",
            404: "OBJECT_NOT_FOUND",
            405: "VALIDATION_ERROR",
            409: "CONFLICT",
            422: "VALIDATION_ERROR",
        }.get(status, "INTERNAL_ERROR")
        return self._error(status, message, category)

    def rate_limited(self, limit: str, retry_after: float) -> Response:
        policy = {
            "ten_secondly_rolling": "TEN_SECONDLY_ROLLING",
            "daily": "DAILY",
            "search_secondly": "SECONDLY",
        }.get(limit, "TEN_SECONDLY_ROLLING")
        seconds = max(1, int(retry_after + 0.999))
        body = {
            "status": "error",
            "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "groupName": f"publicapi:private-app:{APP_ID}",
        }
        return Response.json(429, body, {"Retry-After": str(seconds)})

    def _error(self, status: int, message: str, category: str, **extra: Any) -> Response:
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }
        return Response.json(status, body)

    def _fail(self, status: int, message: str, category: str, **extra: Any) -> HttpError:
        return HttpError(self._error(status, message, category, **extra))

    def _require_write(self, request: Request, object_type: str) -> None:
        if self.tokens.get(request.identity) != "write":
            raise self._fail(
                403,
                "This app hasn't been granted all required scopes to make this call. Read "
                "more about required scopes here: https://developers.hubspot.com/scopes.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredScopes": [f"crm.objects.{object_type}.write"]},
                    }
                ],
            )

    # -- helpers ---------------------------------------------------------------------------

    def _object_type(self, request: Request) -> str:
        raw = request.params["object_type"]
        name = TYPE_IDS.get(raw) or SINGULAR.get(raw.lower()) or raw.lower()
        if name not in OBJECTS:
            raise self._fail(400, f"Unable to infer object type from: {raw}", "VALIDATION_ERROR")
        return name

    def _render(
        self, object_type: str, stored: dict[str, Any], properties: list[str] | None
    ) -> dict[str, Any]:
        names = list(properties) if properties else list(DEFAULT_PROPERTIES[object_type])
        for always in ("createdate", MODIFIED_PROPERTY[object_type], "hs_object_id"):
            if always not in names:
                names.append(always)
        values = stored["properties"]
        props: dict[str, str | None] = {}
        for name in names:
            if name not in PROPERTIES[object_type]:
                continue  # HubSpot silently leaves out unknown requested properties
            if name == "createdate":
                props[name] = iso_ms(stored["created"])
            elif name == MODIFIED_PROPERTY[object_type]:
                props[name] = iso_ms(stored["modified"])
            elif name == "hs_object_id":
                props[name] = stored["id"]
            else:
                props[name] = values.get(name)
        out = {
            "id": stored["id"],
            "properties": props,
            "createdAt": iso_ms(stored["created"]),
            "updatedAt": iso_ms(stored["modified"]),
            "archived": stored["archived"],
        }
        if stored["archived"]:
            out["archivedAt"] = iso_ms(stored["archived_at"])
        return out

    def _normalise(self, object_type: str, name: str, value: JSON) -> str:
        """A property value as HubSpot stores it (always a string), or Invalid."""
        spec = PROPERTIES[object_type].get(name)
        if spec is None:
            raise Invalid("PROPERTY_DOESNT_EXIST", name, f'Property "{name}" does not exist')
        if spec["modificationMetadata"]["readOnlyValue"]:
            raise Invalid(
                "READ_ONLY_VALUE",
                name,
                f'"{name}" is a read only property; its value cannot be set.',
            )
        if value is None:
            return ""
        if isinstance(value, dict | list):
            raise Invalid(
                "INVALID_PROPERTY_VALUE",
                name,
                f"{json.dumps(value)} is not a valid value for {name}",
            )
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        text = text.strip()
        if text == "":
            return ""
        kind = spec["type"]
        if name == "email":
            if not EMAIL_RE.match(text):
                raise Invalid("INVALID_EMAIL", name, f"Email address {text} is invalid")
            return text.lower()
        if kind == "number":
            try:
                number = float(text)
            except ValueError:
                raise Invalid("INVALID_DECIMAL", name, f"{text} was not a valid number.") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise Invalid("INVALID_DECIMAL", name, f"{text} was not a valid number.")
            return str(int(number)) if number.is_integer() else repr(number)
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise Invalid("INVALID_BOOLEAN", name, f"{text} is not a valid boolean")
            return text.lower()
        if kind == "enumeration":
            allowed = {o["value"] for o in spec["options"]}
            chosen = text.split(";") if spec["fieldType"] == "checkbox" else [text]
            for option in chosen:
                if option not in allowed:
                    raise Invalid(
                        "INVALID_OPTION",
                        name,
                        f"{option} was not one of the allowed options: "
                        f"{[o['value'] for o in spec['options']]}",
                    )
            return ";".join(chosen)
        if kind == "date":
            ms = int(text) if text.isdigit() else None
            try:
                day = (
                    datetime.fromtimestamp(ms / 1000, UTC).date()
                    if ms is not None
                    else date.fromisoformat(text)
                )
            except ValueError:
                raise Invalid("INVALID_DATE", name, f"{text} is not a valid date") from None
            if ms is not None and ms % 86_400_000:
                raise Invalid("INVALID_DATE", name, f"{text} is not midnight UTC")
            return day.isoformat()
        if kind == "datetime":
            ms = parse_ms(text)
            if ms is None:
                raise Invalid("INVALID_DATETIME", name, f"{text} is not a valid datetime")
            return iso_ms(ms)
        return text

    def _validate(
        self, object_type: str, props: JSON, *, creating: bool
    ) -> tuple[dict[str, str], list[Invalid]]:
        if not isinstance(props, dict):
            return {}, [
                Invalid("INVALID_PROPERTY_VALUE", "properties", "properties must be an object")
            ]
        clean: dict[str, str] = {}
        problems: list[Invalid] = []
        for name, value in props.items():
            try:
                clean[name] = self._normalise(object_type, name, value)
            except Invalid as exc:
                problems.append(exc)
        if creating:
            for name in REQUIRED[object_type]:
                if not clean.get(name) and not any(p.prop == name for p in problems):
                    problems.append(
                        Invalid("REQUIRED_PROPERTY", name, f"Missing required property {name}")
                    )
        return clean, problems

    def _validation_error(self, problems: list[Invalid]) -> dict[str, Any]:
        return {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: "
            + json.dumps(
                [
                    {"isValid": False, "message": p.message, "error": p.code, "name": p.prop}
                    for p in problems
                ]
            ),
            "correlationId": str(uuid.uuid4()),
            "errors": [
                {"message": p.message, "code": p.code, "context": {"propertyName": [p.prop]}}
                for p in problems
            ],
        }

    def _email_taken(self, email: str, except_id: str | None = None) -> str | None:
        owner = self.emails.get(email)
        return owner if owner is not None and owner != except_id else None

    def _conflict(
        self, object_type: str, clean: dict[str, str], record_id: str | None
    ) -> str | None:
        if object_type == "contacts" and clean.get("email"):
            existing = self._email_taken(clean["email"], record_id)
            if existing:
                return f"Contact already exists. Existing ID: {existing}"
        return None

    def _now_ms(self) -> int:
        return int(self.context.now() * 1000)

    def _emit(
        self, object_type: str, stored: dict[str, Any], change: str, changed: Mapping[str, str] = ()
    ) -> None:  # type: ignore[assignment]
        if not self.context.webhooks_wanted():
            return
        singular = OBJECTS[object_type][0]
        base = {
            "objectId": int(stored["id"]),
            "occurredAt": stored["modified"],
            "changeSource": "API",
            "portalId": PORTAL_ID,
            "appId": APP_ID,
        }
        if change == "creation":
            events = [{**base, "subscriptionType": f"{singular}.creation", "changeFlag": "CREATED"}]
        elif change == "deletion":
            events = [
                {
                    **base,
                    "subscriptionType": f"{singular}.deletion",
                    "changeFlag": "DELETED",
                    "occurredAt": stored["archived_at"],
                }
            ]
        else:
            events = [
                {
                    **base,
                    "subscriptionType": f"{singular}.propertyChange",
                    "propertyName": name,
                    "propertyValue": value,
                }
                for name, value in changed.items()
            ]
        for event in events:
            event["eventId"] = self.event_seq
            event["subscriptionId"] = (
                400_000
                + list(OBJECTS).index(object_type) * 10
                + (0 if change == "creation" else 1 if change == "propertyChange" else 2)
            )
            event["attemptNumber"] = 0
            self.event_seq += 1
            self.context.emit(event)

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        """Batches of up to 100 events, signed v3 (and legacy v1).

        Reference: "Webhooks API" and "Validating requests" (developers.hubspot.com).
        """
        deliveries = []
        for start in range(0, len(events), WEBHOOK_EVENTS_PER_REQUEST):
            chunk = events[start : start + WEBHOOK_EVENTS_PER_REQUEST]
            body = json.dumps(chunk, separators=(",", ":")).encode()
            timestamp = str(int(now * 1000))
            source = "POST" + decode_uri(target.url) + body.decode() + timestamp
            v3 = base64.b64encode(
                hmac.new(target.secret.encode(), source.encode(), hashlib.sha256).digest()
            ).decode()
            v1 = hashlib.sha256(target.secret.encode() + body).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
                "X-HubSpot-Signature-v3": v3,
                "X-HubSpot-Request-Timestamp": timestamp,
                "X-HubSpot-Signature": v1,
                "X-HubSpot-Signature-Version": "v1",
                "X-HubSpot-Timeout-Millis": "10000",
            }
            ids = ",".join(str(e["eventId"]) for e in chunk)
            deliveries.append(Delivery(target.url, body, headers, delivery_id=ids))
        return deliveries

    # -- endpoints -------------------------------------------------------------------------

    @route("GET", "/account-info/v3/details")
    def account_details(self, request: Request) -> Response:
        """Reference: "Account information API | Get account details"."""
        return Response.json(
            200,
            {
                "portalId": PORTAL_ID,
                "accountType": "STANDARD",
                "timeZone": "Europe/Berlin",
                "companyCurrency": "EUR",
                "additionalCurrencies": [],
                "utcOffset": "+01:00",
                "utcOffsetMilliseconds": 3_600_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "eu1",
            },
        )

    @route("GET", "/crm/v3/properties/{object_type}")
    def list_properties(self, request: Request) -> Response:
        """Reference: "CRM API | Properties" (GET /crm/v3/properties/{objectType})."""
        object_type = self._object_type(request)
        return Response.json(200, {"results": copy.deepcopy(SCHEMA[object_type])})

    @route("GET", "/crm/v3/objects/{object_type}")
    def list_objects(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | List" (GET /crm/v3/objects/{objectType})."""
        object_type = self._object_type(request)
        limit = self._int(request.arg("limit", "10"), "limit")
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise self._fail(
                400, f"limit must be between 1 and {LIST_LIMIT_MAX}", "VALIDATION_ERROR"
            )
        after = request.arg("after")
        archived = request.arg("archived", "false") == "true"
        properties = request.args("properties") or None
        floor = self._int(after, "after") if after else -1
        # Records are stored in id order (ids only grow), so no sort is needed.
        rows = [
            r
            for r in self.records[object_type].values()
            if r["archived"] == archived and int(r["id"]) > floor
        ]
        page = rows[:limit]
        body: dict[str, Any] = {"results": [self._render(object_type, r, properties) for r in page]}
        if len(rows) > limit:
            body["paging"] = {
                "next": {"after": str(int(page[-1]["id"])), "link": f"?after={page[-1]['id']}"}
            }
        return Response.json(200, body)

    @route("GET", "/crm/v3/objects/{object_type}/{object_id}")
    def get_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Read" (GET /crm/v3/objects/{objectType}/{id})."""
        object_type = self._object_type(request)
        stored = self.records[object_type].get(request.params["object_id"])
        archived = request.arg("archived", "false") == "true"
        if stored is None or stored["archived"] != archived:
            raise self._fail(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [request.params["object_id"]]},
            )
        return Response.json(
            200, self._render(object_type, stored, request.args("properties") or None)
        )

    @route("POST", "/crm/v3/objects/{object_type}")
    def create_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Create" (POST /crm/v3/objects/{objectType})."""
        object_type = self._object_type(request)
        self._require_write(request, object_type)
        body = self._body(request)
        clean, problems = self._validate(object_type, body.get("properties", {}), creating=True)
        if problems:
            raise HttpError(Response.json(400, self._validation_error(problems)))
        conflict = self._conflict(object_type, clean, None)
        if conflict:
            raise self._fail(409, conflict, "CONFLICT")
        now = self._now_ms()
        stored = self._insert(object_type, clean, now, now)
        self._emit(object_type, stored, "creation")
        return Response.json(201, self._render(object_type, stored, list(clean)))

    @route("PATCH", "/crm/v3/objects/{object_type}/{object_id}")
    def update_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Update" (PATCH /crm/v3/objects/{type}/{id})."""
        object_type = self._object_type(request)
        self._require_write(request, object_type)
        stored = self.records[object_type].get(request.params["object_id"])
        if stored is None or stored["archived"]:
            raise self._fail(
                404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
            )
        body = self._body(request)
        clean, problems = self._validate(object_type, body.get("properties", {}), creating=False)
        if problems:
            raise HttpError(Response.json(400, self._validation_error(problems)))
        conflict = self._conflict(object_type, clean, stored["id"])
        if conflict:
            raise self._fail(409, conflict, "CONFLICT")
        self._apply(object_type, stored, clean, self._now_ms())
        return Response.json(200, self._render(object_type, stored, list(clean)))

    @route("DELETE", "/crm/v3/objects/{object_type}/{object_id}")
    def archive_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Archive" (DELETE /crm/v3/objects/{type}/{id})."""
        object_type = self._object_type(request)
        self._require_write(request, object_type)
        stored = self.records[object_type].get(request.params["object_id"])
        if stored is not None and not stored["archived"]:
            self._archive(object_type, stored, self._now_ms())
        return Response.empty(204)

    @route("POST", "/crm/v3/objects/{object_type}/search", limits=("search_secondly",))
    def search(self, request: Request) -> Response:
        """Reference: "CRM API | Search" (POST /crm/v3/objects/{objectType}/search)."""
        object_type = self._object_type(request)
        body = self._body(request)
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 <= limit <= SEARCH_LIMIT_MAX:
            raise self._fail(
                400, f"limit must be between 0 and {SEARCH_LIMIT_MAX}", "VALIDATION_ERROR"
            )
        after = self._int(str(body.get("after") or "0"), "after")
        if after + limit > self.search_cap or after >= self.search_cap:
            raise self._fail(
                400,
                f"Search results are limited to {self.search_cap} results; after={after} "
                f"with limit={limit} pages past that. Narrow the query instead of paging.",
                "VALIDATION_ERROR",
            )
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5:
            raise self._fail(400, "At most 5 filterGroups are allowed", "VALIDATION_ERROR")
        total_filters = 0
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list) or len(filters) > 10:
                raise self._fail(
                    400, "Each filterGroup needs at most 10 filters", "VALIDATION_ERROR"
                )
            total_filters += len(filters)
        if total_filters > 25:
            raise self._fail(400, "At most 25 filters are allowed", "VALIDATION_ERROR")
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list) or len(sorts) > 1:
            raise self._fail(400, "At most one sort is allowed", "VALIDATION_ERROR")
        query = body.get("query")
        fast = self._modified_range(object_type, groups, sorts, query)
        if fast is not None:
            # The change-feed query (modified GTE/GT x, ascending): served from the ordered
            # index in O(log n + page) instead of a scan, so the sandbox keeps up with
            # benchmarks of large accounts. Same results as the general path below.
            start = fast
            order = self.order[object_type]
            table = self.records[object_type]
            total = len(order) - start
            page = [table[str(i)] for _, i in order[start + after : start + after + limit]]
            return self._search_answer(object_type, body, page, total, after, limit)
        rows = [r for r in self.records[object_type].values() if not r["archived"]]
        matches = self._compile(object_type, groups)
        rows = [r for r in rows if matches(r)]
        if isinstance(query, str) and query.strip():
            needle = query.strip().lower()
            rows = [
                r
                for r in rows
                if any(needle in (v or "").lower() for v in r["properties"].values())
            ]
        if sorts:
            sort = sorts[0] if isinstance(sorts[0], dict) else {}
            name = sort.get("propertyName")
            if name not in PROPERTIES[object_type]:
                raise self._fail(400, f"Cannot sort by unknown property {name}", "VALIDATION_ERROR")
            descending = sort.get("direction") == "DESCENDING"
            rows.sort(key=self._sort_key(object_type, name), reverse=descending)
        else:
            rows.sort(key=lambda r: int(r["id"]))
        return self._search_answer(
            object_type, body, rows[after : after + limit], len(rows), after, limit
        )

    def _search_answer(
        self,
        object_type: str,
        body: dict[str, Any],
        page: list[dict[str, Any]],
        total: int,
        after: int,
        limit: int,
    ) -> Response:
        properties = body.get("properties") or None
        out: dict[str, Any] = {
            "total": total,
            "results": [self._render(object_type, r, properties) for r in page],
        }
        next_after = after + limit
        if next_after < total and limit:
            out["paging"] = {"next": {"after": str(next_after)}}
        return Response.json(200, out)

    @route("POST", "/crm/v3/objects/{object_type}/batch/read")
    def batch_read(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch read" (POST .../batch/read)."""
        object_type = self._object_type(request)
        body = self._body(request)
        inputs = self._inputs(body)
        properties = body.get("properties") or None
        id_property = body.get("idProperty")
        found, missing = [], []
        for item in inputs:
            key = str(item.get("id", "")) if isinstance(item, dict) else ""
            stored = self._lookup(object_type, key, id_property)
            if stored is None:
                missing.append(key)
            else:
                found.append(self._render(object_type, stored, properties))
        return self._batch_answer(found, self._missing_errors(object_type, missing), 200)

    @route("POST", "/crm/v3/objects/{object_type}/batch/create")
    def batch_create(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch create" and "Error handling" (multi-status)."""
        object_type = self._object_type(request)
        self._require_write(request, object_type)
        inputs = self._inputs(self._body(request))
        traced = all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in inputs)
        prepared: list[tuple[dict[str, Any], dict[str, str]]] = []
        errors: list[dict[str, Any]] = []
        seen_emails: set[str] = set()
        for item in inputs:
            props = item.get("properties", {}) if isinstance(item, dict) else None
            clean, problems = self._validate(object_type, props, creating=True)
            error = self._validation_error(problems) if problems else None
            if error is None:
                conflict = self._conflict(object_type, clean, None)
                email = clean.get("email") if object_type == "contacts" else None
                if conflict is None and email and email in seen_emails:
                    conflict = f"Duplicate email {email} in batch input"
                if email:
                    seen_emails.add(email)
                if conflict:
                    error = {
                        "status": "error",
                        "category": "CONFLICT",
                        "message": conflict,
                        "correlationId": str(uuid.uuid4()),
                    }
            if error is not None:
                if not traced:
                    raise HttpError(
                        Response.json(409 if error["category"] == "CONFLICT" else 400, error)
                    )
                error["context"] = {"objectWriteTraceId": [str(item["objectWriteTraceId"])]}
                errors.append(error)
            else:
                prepared.append((item, clean))
        now = self._now_ms()
        results = []
        for item, clean in prepared:
            stored = self._insert(object_type, clean, now, now)
            self._emit(object_type, stored, "creation")
            rendered = self._render(object_type, stored, list(clean))
            if traced:
                rendered["objectWriteTraceId"] = str(item["objectWriteTraceId"])
            results.append(rendered)
        return self._batch_answer(results, errors, 201)

    @route("POST", "/crm/v3/objects/{object_type}/batch/update")
    def batch_update(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch update" (POST .../batch/update)."""
        object_type = self._object_type(request)
        self._require_write(request, object_type)
        inputs = self._inputs(self._body(request))
        ids = [str(i.get("id", "")) if isinstance(i, dict) else "" for i in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise self._fail(
                400,
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
                "VALIDATION_ERROR",
            )
        traced = all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in inputs)
        prepared: list[tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = []
        errors: list[dict[str, Any]] = []
        missing: list[str] = []
        for item, record_id in zip(inputs, ids, strict=True):
            stored = self.records[object_type].get(record_id)
            if stored is None or stored["archived"]:
                missing.append(record_id)
                continue
            clean, problems = self._validate(
                object_type, item.get("properties", {}), creating=False
            )
            error = self._validation_error(problems) if problems else None
            conflict = None if error else self._conflict(object_type, clean, record_id)
            if conflict:
                error = {
                    "status": "error",
                    "category": "CONFLICT",
                    "message": conflict,
                    "correlationId": str(uuid.uuid4()),
                }
            if error is not None:
                if not traced:
                    raise HttpError(Response.json(409 if conflict else 400, error))
                error["context"] = {
                    "objectWriteTraceId": [str(item["objectWriteTraceId"])],
                    "ids": [record_id],
                }
                errors.append(error)
            else:
                prepared.append((item, stored, clean))
        now = self._now_ms()
        results = []
        for item, stored, clean in prepared:
            self._apply(object_type, stored, clean, now)
            rendered = self._render(object_type, stored, list(clean))
            if traced:
                rendered["objectWriteTraceId"] = str(item["objectWriteTraceId"])
            results.append(rendered)
        return self._batch_answer(results, errors + self._missing_errors(object_type, missing), 200)

    @route("POST", "/crm/v3/objects/{object_type}/batch/archive")
    def batch_archive(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch archive": 204, unknown ids ignored."""
        object_type = self._object_type(request)
        self._require_write(request, object_type)
        inputs = self._inputs(self._body(request))
        now = self._now_ms()
        for item in inputs:
            stored = self.records[object_type].get(str(item.get("id", "")))
            if stored is not None and not stored["archived"]:
                self._archive(object_type, stored, now)
        return Response.empty(204)

    # -- endpoint helpers ------------------------------------------------------------------

    def _body(self, request: Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise self._fail(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        return body

    def _inputs(self, body: dict[str, Any]) -> list[Any]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise self._fail(400, "inputs must be a non-empty array", "VALIDATION_ERROR")
        if len(inputs) > BATCH_MAX:
            raise self._fail(
                400,
                f"Batch input has {len(inputs)} inputs; the limit is {BATCH_MAX}",
                "VALIDATION_ERROR",
            )
        return inputs

    def _int(self, text: str | None, name: str) -> int:
        try:
            return int(text or "")
        except ValueError:
            raise self._fail(
                400, f"{name} must be an integer, got {text!r}", "VALIDATION_ERROR"
            ) from None

    def _lookup(self, object_type: str, key: str, id_property: str | None) -> dict | None:
        if not id_property or id_property == "hs_object_id":
            stored = self.records[object_type].get(key)
            return stored if stored and not stored["archived"] else None
        wanted = key.lower() if id_property == "email" else key
        for stored in self.records[object_type].values():
            if not stored["archived"] and stored["properties"].get(id_property) == wanted:
                return stored
        return None

    def _missing_errors(self, object_type: str, missing: list[str]) -> list[dict[str, Any]]:
        if not missing:
            return []
        singular = OBJECTS[object_type][0].upper()
        return [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {singular} objects, they may be deleted or not "
                "exist. Check that ids are valid.",
                "context": {"ids": missing},
            }
        ]

    def _batch_answer(
        self, results: list[dict[str, Any]], errors: list[dict[str, Any]], ok_status: int
    ) -> Response:
        stamp = iso_ms(self._now_ms())
        # HubSpot does not promise result order; reversing makes order-reliant clients fail.
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results[::-1],
            "startedAt": stamp,
            "completedAt": stamp,
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
            return Response.json(207, body)
        return Response.json(ok_status, body)

    def _apply(
        self, object_type: str, stored: dict[str, Any], clean: dict[str, str], now: int
    ) -> None:
        changed = {k: v for k, v in clean.items() if stored["properties"].get(k, "") != v}
        if object_type == "contacts" and "email" in changed:
            self._unindex_email(stored)
            if clean["email"]:
                self.emails[clean["email"]] = stored["id"]
        stored["properties"].update(clean)
        # HubSpot bumps the modified date on every accepted update, changed or not.
        self._unindex(object_type, stored)
        stored["modified"] = max(now, stored["modified"])
        self._index(object_type, stored)
        if changed:
            self._emit(object_type, stored, "propertyChange", changed)

    def _unindex_email(self, stored: dict[str, Any]) -> None:
        old = stored["properties"].get("email")
        if old and self.emails.get(old) == stored["id"]:
            del self.emails[old]

    def _archive(self, object_type: str, stored: dict[str, Any], now: int) -> None:
        if object_type == "contacts":
            self._unindex_email(stored)
        self._unindex(object_type, stored)
        stored["archived"] = True
        stored["archived_at"] = now
        self._emit(object_type, stored, "deletion")

    def _modified_range(
        self, object_type: str, groups: list[Any], sorts: list[Any], query: Any
    ) -> int | None:
        """Where the ordered index starts for a change-feed query, or None for any other."""
        modified = MODIFIED_PROPERTY[object_type]
        if query or sorts != [{"propertyName": modified, "direction": "ASCENDING"}]:
            return None
        order = self.order[object_type]
        if not groups:
            return 0
        if len(groups) != 1 or len(groups[0].get("filters") or []) != 1:
            return None
        spec = groups[0]["filters"][0]
        if spec.get("propertyName") != modified or spec.get("operator") not in ("GTE", "GT"):
            return None
        bound = parse_ms(spec.get("value"))
        if bound is None:
            return None
        if spec["operator"] == "GTE":
            return bisect.bisect_left(order, (bound, -1))
        return bisect.bisect_left(order, (bound + 1, -1))

    def _index(self, object_type: str, stored: dict[str, Any]) -> None:
        bisect.insort(self.order[object_type], (stored["modified"], int(stored["id"])))

    def _unindex(self, object_type: str, stored: dict[str, Any]) -> None:
        order = self.order[object_type]
        entry = (stored["modified"], int(stored["id"]))
        at = bisect.bisect_left(order, entry)
        if at < len(order) and order[at] == entry:
            del order[at]

    def _rebuild_index(self) -> None:
        self.order = {
            t: sorted((r["modified"], int(r["id"])) for r in rows.values() if not r["archived"])
            for t, rows in self.records.items()
        }

    def _getter(self, object_type: str, name: str) -> Callable[[dict[str, Any]], Any]:
        """A property's comparable value: a float for numbers and timestamps, lower-cased
        text otherwise, None when unset. Built once per search, used on every record."""
        kind = PROPERTIES[object_type][name]["type"]
        if name == "createdate":
            return lambda stored: float(stored["created"])
        if name == MODIFIED_PROPERTY[object_type]:
            return lambda stored: float(stored["modified"])
        if name == "hs_object_id":
            return lambda stored: float(stored["id"])
        if kind in NUMERIC_TYPES:

            def number(stored: dict[str, Any]) -> float | None:
                raw = stored["properties"].get(name)
                return None if raw in (None, "") else self._number(kind, raw)

            return number

        def text(stored: dict[str, Any]) -> str | None:
            raw = stored["properties"].get(name)
            return None if raw in (None, "") else raw.lower()

        return text

    def _sort_key(self, object_type: str, name: str) -> Callable[[dict[str, Any]], tuple]:
        get = self._getter(object_type, name)
        empty = 0.0 if PROPERTIES[object_type][name]["type"] in NUMERIC_TYPES else ""

        def key(stored: dict[str, Any]) -> tuple:
            value = get(stored)
            # Unset values sort last; equal values by id, so paging is stable.
            return (1, empty, int(stored["id"])) if value is None else (0, value, int(stored["id"]))

        return key

    def _number(self, kind: str, value: JSON) -> float | None:
        if kind in ("datetime", "date"):
            ms = parse_ms(value)
            return float(ms) if ms is not None else None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    def _compile(self, object_type: str, groups: list[Any]) -> Callable[[dict[str, Any]], bool]:
        """The search's filterGroups as one predicate (OR of groups, AND within a group)."""
        if not groups:
            return lambda stored: True
        compiled = [[self._compile_filter(object_type, f) for f in g["filters"]] for g in groups]
        return lambda stored: any(all(test(stored) for test in group) for group in compiled)

    def _compile_filter(self, object_type: str, spec: Any) -> Callable[[dict[str, Any]], bool]:
        """One filter as a predicate; raises HubSpot's 400 for a malformed filter."""
        if not isinstance(spec, dict):
            raise self._fail(400, "Each filter must be an object", "VALIDATION_ERROR")
        name, operator = spec.get("propertyName"), spec.get("operator")
        if name not in PROPERTIES[object_type]:
            raise self._fail(
                400,
                f"There was a problem with the request. Property {name} does not exist",
                "VALIDATION_ERROR",
            )
        kind = PROPERTIES[object_type][name]["type"]
        get = self._getter(object_type, name)
        if operator == "HAS_PROPERTY":
            return lambda stored: get(stored) is not None
        if operator == "NOT_HAS_PROPERTY":
            return lambda stored: get(stored) is None
        numeric = kind in NUMERIC_TYPES

        def convert(raw: JSON) -> Any:
            if numeric:
                number = self._number(kind, raw)
                if number is None:
                    raise self._fail(
                        400, f"{raw!r} is not a valid value for {name}", "VALIDATION_ERROR"
                    )
                return number
            return str(raw).lower()

        if operator in ("IN", "NOT_IN"):
            values = spec.get("values")
            if not isinstance(values, list):
                raise self._fail(400, f"{operator} needs values", "VALIDATION_ERROR")
            wanted = {convert(v) for v in values}
            if operator == "IN":
                return lambda stored: (v := get(stored)) is not None and v in wanted
            return lambda stored: (v := get(stored)) is None or v not in wanted
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(spec.get("value", "")).lower().strip("*")
            contains = lambda stored: (v := get(stored)) is not None and token in str(v).lower()  # noqa: E731 - a predicate like the others
            if operator == "CONTAINS_TOKEN":
                return contains
            return lambda stored: not contains(stored)
        compare = COMPARISONS.get(operator)
        if compare is None:
            raise self._fail(400, f"Unknown filter operator {operator}", "VALIDATION_ERROR")
        if "value" not in spec:
            raise self._fail(400, f"{operator} needs a value", "VALIDATION_ERROR")
        target = convert(spec["value"])
        if operator == "BETWEEN":
            high = convert(spec.get("highValue"))
            return lambda stored: (v := get(stored)) is not None and target <= v <= high
        if operator == "NEQ":
            return lambda stored: (v := get(stored)) is None or v != target
        return lambda stored: (v := get(stored)) is not None and compare(v, target)


SANDBOX = HubSpotSandbox

_counter = itertools.count(1)


def contract() -> ContractCase:
    """What the shared contract suite needs to exercise the HubSpot connector."""

    def config(base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "access_token": SANDBOX_TOKEN}

    def bad_config(base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "access_token": "pat-na1-revoked-token"}

    def new_record(n: int) -> dict[str, Any]:
        run = next(_counter)
        return {
            "email": f"Contract.Person{n}.{run}@Example.org",
            "firstname": f"Person{n}",
            "lastname": "Contract",
            "lifecyclestage": "lead",
        }

    return ContractCase(
        object_type="contacts",
        config=config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=lambda: {"email": "not-an-email", "firstname": "Broken"},
        update=lambda n: {"firstname": f"Renamed{n}", "jobtitle": "Support Lead"},
        webhook_secret="hubspot-app-client-secret",  # noqa: S106 - a sandbox value
        stale_after=300.0,
        seed_counts={"contacts": 12, "companies": 3, "deals": 3, "tickets": 3},
    )
