"""The HubSpot portal's records on the shared RecordTable: validation, writes, seed, render.

A row's `data` is {"properties": {name: str}}; `created` and `modified` are epoch
milliseconds (HubSpot's own precision), `deleted` is the archive time. Property values are
stored as HubSpot stores them: strings, "" for unset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from connectors.hubspot.sandbox import webhooks
from connectors.hubspot.sandbox.schema import (
    DEAL_KINDS,
    DEAL_STAGES,
    DEFAULT_PROPERTIES,
    EMAIL_RE,
    LEAD_STATUS,
    MODIFIED_PROPERTY,
    OBJECTS,
    PORTAL_ID,
    PRIORITIES,
    PROPERTIES,
    REQUIRED,
    iso_ms,
    parse_ms,
)
from connectors.sandbox.core import JSON, Problem, ValidationError
from connectors.sandbox.data import FakeData
from connectors.sandbox.records import RecordState, Row

SANDBOX_TOKEN = "pat-na1-00000000-0000-4000-8000-sandbox00001"  # noqa: S105 - sandbox credential
READONLY_TOKEN = "pat-na1-00000000-0000-4000-8000-readonly0001"  # noqa: S105
TOKENS = {SANDBOX_TOKEN: "write", READONLY_TOKEN: "read"}
SEARCH_CAP = 10_000
SEED_COUNTS = {"contacts": 40, "companies": 15, "deals": 20, "tickets": 25}


def connection_config(base_url: str) -> dict[str, Any]:
    """A HubSpot connector config for this sandbox: the read/write private-app token, and
    the account ID (for links to records, which the sandbox serves too)."""
    return {"base_url": base_url, "access_token": SANDBOX_TOKEN, "portal_id": str(PORTAL_ID)}


def _email(row: Row) -> str | None:
    return row.data["properties"].get("email") or None


class HubSpotState(RecordState):
    first_ids = {name: base for name, (_, _, base) in OBJECTS.items()}
    # A contact's email is HubSpot's unique key among live contacts.
    unique = {"contacts": _email}

    def start(self) -> None:
        self.search_cap = SEARCH_CAP
        self.event_seq = 1_000_001

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    # -- settings and the state file -------------------------------------------------------

    def settings(self) -> dict[str, JSON]:
        return {
            "search_cap": self.search_cap,
            "tokens": {"write": SANDBOX_TOKEN, "read": READONLY_TOKEN},
        }

    def configure(self, values: Mapping[str, JSON]) -> None:
        for name, value in values.items():
            if name == "search_cap":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValidationError("search_cap must be a positive integer")
                self.search_cap = value
            elif name == "tokens":  # shown by settings() (and so in the state file), fixed
                if value != self.settings()["tokens"]:
                    raise ValidationError("the hubspot sandbox's tokens cannot be changed")
            else:
                raise ValidationError(f"unknown hubspot setting {name!r}")

    def extra(self) -> dict[str, JSON]:
        return {"event_seq": self.event_seq}

    def restore(self, extra: Mapping[str, JSON]) -> None:
        self.event_seq = int(extra.get("event_seq", self.event_seq))

    # -- reads -----------------------------------------------------------------------------

    def get(self, object_type: str, record_id: str, *, archived: bool = False) -> Row | None:
        """The record with this (numeric string) id; with `archived`, only an archived one."""
        if not record_id.isdigit():
            return None
        row = self.table.get(object_type, int(record_id), deleted=archived)
        if row is None or row.live == archived:
            return None
        return row

    def lookup(self, object_type: str, key: str, id_property: str | None) -> Row | None:
        """A live record by id, or by the value of `id_property` (emails compare lower-case)."""
        if not id_property or id_property == "hs_object_id":
            return self.get(object_type, key)
        if object_type == "contacts" and id_property == "email":
            return self.table.find("contacts", key.lower())
        for row in self.table.rows(object_type):
            if row.data["properties"].get(id_property) == key:
                return row
        return None

    def render(self, object_type: str, row: Row, properties: list[str] | None) -> dict[str, Any]:
        """The SimplePublicObject of a record with the requested (or default) properties."""
        names = list(properties) if properties else list(DEFAULT_PROPERTIES[object_type])
        for always in ("createdate", MODIFIED_PROPERTY[object_type], "hs_object_id"):
            if always not in names:
                names.append(always)
        values = row.data["properties"]
        props: dict[str, str | None] = {}
        for name in names:
            if name not in PROPERTIES[object_type]:
                continue  # HubSpot silently leaves out unknown requested properties
            if name == "createdate":
                props[name] = iso_ms(int(row.created))
            elif name == MODIFIED_PROPERTY[object_type]:
                props[name] = iso_ms(int(row.modified))
            elif name == "hs_object_id":
                props[name] = str(row.id)
            else:
                props[name] = values.get(name)
        out: dict[str, Any] = {
            "id": str(row.id),
            "properties": props,
            "createdAt": iso_ms(int(row.created)),
            "updatedAt": iso_ms(int(row.modified)),
            "archived": not row.live,
        }
        if row.deleted is not None:
            out["archivedAt"] = iso_ms(int(row.deleted))
        return out

    # -- validation ------------------------------------------------------------------------

    def validate(
        self, object_type: str, props: JSON, *, creating: bool
    ) -> tuple[dict[str, str], list[Problem]]:
        """Property values as HubSpot stores them, and the problems of those it refuses."""
        if not isinstance(props, dict):
            return {}, [
                Problem("properties", "properties must be an object", "INVALID_PROPERTY_VALUE")
            ]
        clean: dict[str, str] = {}
        problems: list[Problem] = []
        for name, value in props.items():
            try:
                clean[name] = normalise(object_type, name, value)
            except ValidationError as exc:
                problems.extend(exc.problems)
        if creating:
            for name in REQUIRED[object_type]:
                if not clean.get(name) and not any(p.field == name for p in problems):
                    problems.append(
                        Problem(name, f"Missing required property {name}", "REQUIRED_PROPERTY")
                    )
        return clean, problems

    def conflict(
        self, object_type: str, clean: Mapping[str, str], record_id: int | None
    ) -> str | None:
        """HubSpot's 409 message when the write would duplicate a contact's email."""
        if object_type == "contacts" and clean.get("email"):
            owner = self.table.find("contacts", clean["email"])
            if owner is not None and owner.id != record_id:
                return f"Contact already exists. Existing ID: {owner.id}"
        return None

    # -- writes ----------------------------------------------------------------------------

    def insert(self, object_type: str, props: dict[str, str], created: int, modified: int) -> Row:
        return self.table.insert(
            object_type, {"properties": dict(props)}, created=created, modified=modified
        )

    def create(self, object_type: str, clean: dict[str, str], now: int) -> Row:
        row = self.insert(object_type, clean, now, now)
        self.emit(object_type, row, "creation")
        return row

    def apply(self, object_type: str, row: Row, clean: Mapping[str, str], now: int) -> None:
        """Write validated values; HubSpot bumps the modified date even when nothing changed."""
        properties = row.data["properties"]
        changed = {k: v for k, v in clean.items() if properties.get(k, "") != v}
        properties.update(clean)
        self.table.save(row, modified=max(now, int(row.modified)))
        if changed:
            self.emit(object_type, row, "propertyChange", changed)

    def archive(self, object_type: str, row: Row, now: int) -> None:
        self.table.delete(row, now)
        self.emit(object_type, row, "deletion")

    def merge(self, object_type: str, primary: Row, merged: Row, now: int) -> None:
        """Merge `merged` into `primary`: the primary keeps its values and id, takes the
        merged record's values where it has none, and the merged record is gone."""
        properties = primary.data["properties"]
        moved = {k: v for k, v in merged.data["properties"].items() if v and not properties.get(k)}
        self.table.purge(merged)  # first: its email is free for the primary to take
        properties.update(moved)
        self.table.save(primary, modified=max(now, int(primary.modified)))
        self.emit(object_type, primary, "merge", merged_ids=[merged.id], moved=len(moved))

    def gdpr_delete(self, row: Row, now: int) -> None:
        """Permanently delete a contact (HubSpot's GDPR deletion): nothing of it remains."""
        self.table.purge(row)
        row.deleted = now
        self.emit("contacts", row, "deletion")
        self.emit("contacts", row, "privacyDeletion")

    def emit(
        self, object_type: str, row: Row, change: str, changed: Mapping[str, str] = (), **extra: Any
    ) -> None:  # type: ignore[assignment]
        if not self.context.webhooks_wanted():
            return
        for event in webhooks.events(object_type, row, change, dict(changed), **extra):
            event["eventId"] = self.event_seq
            self.event_seq += 1
            self.context.emit(event)

    # -- seed ------------------------------------------------------------------------------

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        wanted = dict(SEED_COUNTS)
        for name, count in counts.items():
            if name not in wanted:
                raise ValidationError(f"hubspot has no object type {name!r} to seed")
            wanted[name] = count
        now_ms = self.now_ms()
        window = (now_ms - 365 * 86_400_000, now_ms)
        companies: list[tuple[str, str]] = []
        for _ in range(wanted["companies"]):
            name, domain = fake.company()
            city, country = fake.city()
            companies.append((name, domain))
            self._seed_one(fake, "companies", window, {
                "name": name,
                "domain": domain,
                "industry": fake.industry(),
                "city": city,
                "country": country,
                "phone": fake.phone(),
                "numberofemployees": str(fake.random.randrange(5, 5000)),
                "annualrevenue": str(fake.amount(100_000, 50_000_000)),
                "account_tier": fake.choice(("gold", "silver", "bronze")),
            })  # fmt: skip
        for n in range(wanted["contacts"]):
            first, last = fake.person()
            company, domain = fake.choice(companies) if companies else fake.company()
            city, country = fake.city()
            self._seed_one(fake, "contacts", window, {
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
            })  # fmt: skip
        for _ in range(wanted["deals"]):
            company, _domain = fake.choice(companies) if companies else fake.company()
            close = fake.timestamp(now_ms / 1000, now_ms / 1000 + 180 * 86_400)
            self._seed_one(fake, "deals", window, {
                "dealname": f"{company} - {fake.choice(DEAL_KINDS)}",
                "amount": str(fake.amount()),
                "pipeline": "default",
                "dealstage": fake.choice([v for v, _ in DEAL_STAGES]),
                "closedate": iso_ms(int(close * 1000)),
                "contract_type": fake.choice(("annual", "monthly", "multi_year")),
            })  # fmt: skip
        for _ in range(wanted["tickets"]):
            self._seed_one(fake, "tickets", window, {
                "subject": fake.ticket_subject(),
                "content": fake.paragraph(),
                "hs_pipeline": "0",
                "hs_pipeline_stage": fake.choice(("1", "2", "3", "4")),
                "hs_ticket_priority": fake.choice([v for v, _ in PRIORITIES]),
                "product_area": fake.choice(("billing", "login", "reporting", "integrations")),
            })  # fmt: skip

    def _seed_one(
        self, fake: FakeData, object_type: str, window: tuple[int, int], props: dict[str, str]
    ) -> None:
        start, end = window
        created = int(fake.timestamp(start / 1000, end / 1000) * 1000)
        modified = int(fake.timestamp(created / 1000, end / 1000) * 1000)
        self.insert(object_type, props, created, modified)


def normalise(object_type: str, name: str, value: JSON) -> str:
    """A property value as HubSpot stores it (always a string). Raises ValidationError with
    HubSpot's per-property code for a value it refuses."""

    def refuse(code: str, message: str) -> ValidationError:
        return ValidationError(Problem(name, message, code))

    spec = PROPERTIES[object_type].get(name)
    if spec is None:
        raise refuse("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if spec["modificationMetadata"]["readOnlyValue"]:
        raise refuse(
            "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'
        )
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise refuse(
            "INVALID_PROPERTY_VALUE", f"{json.dumps(value)} is not a valid value for {name}"
        )
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    text = text.strip()
    if text == "":
        return ""
    kind = spec["type"]
    if name == "email":
        if not EMAIL_RE.match(text):
            raise refuse("INVALID_EMAIL", f"Email address {text} is invalid")
        return text.lower()
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise refuse("INVALID_DECIMAL", f"{text} was not a valid number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise refuse("INVALID_DECIMAL", f"{text} was not a valid number.")
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise refuse("INVALID_BOOLEAN", f"{text} is not a valid boolean")
        return text.lower()
    if kind == "enumeration":
        allowed = [o["value"] for o in spec["options"]]
        chosen = text.split(";") if spec["fieldType"] == "checkbox" else [text]
        for option in chosen:
            if option not in allowed:
                raise refuse(
                    "INVALID_OPTION", f"{option} was not one of the allowed options: {allowed}"
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
            raise refuse("INVALID_DATE", f"{text} is not a valid date") from None
        if ms is not None and ms % 86_400_000:
            raise refuse("INVALID_DATE", f"{text} is not midnight UTC")
        return day.isoformat()
    if kind == "datetime":
        ms = parse_ms(text)
        if ms is None:
            raise refuse("INVALID_DATETIME", f"{text} is not a valid datetime")
        return iso_ms(ms)
    return text
