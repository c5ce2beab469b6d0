"""The Pipedrive company's persons and organizations on the shared RecordTable.

A row's `data` holds the record as Pipedrive stores it, without id and times: persons
{name, first_name, last_name, owner_id, org_id, emails, phones, label_ids, visible_to,
custom_fields}, organizations {name, owner_id, label_ids, visible_to, address,
custom_fields}. `created` and `modified` are epoch seconds (Pipedrive's precision);
`deleted` is when the record was marked deleted (kept 30 days by Pipedrive, here until a
reset).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from connectors.pipedrive.sandbox.schema import (
    COMPANY_DOMAIN,
    COMPANY_ID,
    CONTRACT_VALUE,
    CUSTOM_BY_CODE,
    EMAIL_LABELS,
    EMPLOYEES,
    INDUSTRY,
    INTERESTS,
    NPS,
    ORG_LABELS,
    PERSON_LABELS,
    PHONE_LABELS,
    RENEWAL,
    SINGULAR,
    SUPPORT_NOTES,
    TIER,
    USER_BY_ID,
    USERS,
    VISIBILITY,
    WEBSITE,
    iso,
)
from connectors.sandbox.core import JSON, Problem, ValidationError
from connectors.sandbox.data import FakeData
from connectors.sandbox.records import RecordState, Row

SEED_COUNTS = {"organizations": 12, "persons": 40}
WRITABLE = {
    "persons": {"name", "owner_id", "org_id", "emails", "phones", "label_ids", "visible_to",
                "custom_fields", "add_time", "update_time", "marketing_status"},
    "organizations": {"name", "owner_id", "label_ids", "visible_to", "address",
                      "custom_fields", "add_time", "update_time"},
}  # fmt: skip
LABELS = {
    "persons": {i for i, _, _ in PERSON_LABELS},
    "organizations": {i for i, _, _ in ORG_LABELS},
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PipedriveState(RecordState):
    first_ids = {"organizations": 1, "persons": 1}

    def start(self) -> None:
        self.event_seq = 1

    def extra(self) -> dict[str, JSON]:
        return {"event_seq": self.event_seq}

    def restore(self, extra: Mapping[str, JSON]) -> None:
        self.event_seq = int(extra.get("event_seq", self.event_seq))

    def now_s(self) -> int:
        return int(self.now())

    # -- reads -----------------------------------------------------------------------------

    def get(self, object_type: str, record_id: str) -> Row | None:
        if not record_id.isdigit():
            return None
        return self.table.get(object_type, int(record_id))

    def render(self, object_type: str, row: Row, custom: list[str] | None = None) -> dict[str, Any]:
        """A person or organization as API v2 answers it: every custom field listed (null
        when empty) unless `custom` names the ones wanted."""
        data = row.data
        values = data.get("custom_fields") or {}
        codes = custom if custom is not None else list(CUSTOM_BY_CODE[object_type])
        out: dict[str, Any] = {"id": row.id, "name": data["name"]}
        if object_type == "persons":  # a one-word name has no last name: left out, not null
            out.update({k: data[k] for k in ("first_name", "last_name") if data.get(k) is not None})
        out["owner_id"] = data["owner_id"]
        # An unset org_id (and address, picture_id) is left out: the description types
        # them as non-nullable integers and objects.
        if object_type == "persons" and data.get("org_id") is not None:
            out["org_id"] = data["org_id"]
        out.update(add_time=iso(row.created), update_time=iso(row.modified))
        if object_type == "persons":
            out.update(emails=copy.deepcopy(data["emails"]), phones=copy.deepcopy(data["phones"]))
        out.update(is_deleted=not row.live, visible_to=data["visible_to"])
        out["label_ids"] = list(data.get("label_ids") or [])
        if object_type == "organizations" and data.get("address"):
            out["address"] = copy.deepcopy(data["address"])
        out["custom_fields"] = {code: copy.deepcopy(values.get(code)) for code in codes}
        return out

    # -- validation ------------------------------------------------------------------------

    def validate(self, object_type: str, body: JSON, *, creating: bool) -> dict[str, Any]:
        """The changes a POST or PATCH body makes, checked as Pipedrive checks them.
        Raises ValidationError naming each bad field."""
        if not isinstance(body, dict):
            raise ValidationError("the body must be a JSON object")
        problems: list[Problem] = []
        clean: dict[str, Any] = {}
        for name, value in body.items():
            if name not in WRITABLE[object_type]:
                problems.append(Problem(name, f"Unknown field: {name}"))
                continue
            try:
                checked = self._field(object_type, name, value)
            except ValidationError as exc:
                problems.extend(exc.problems)
                continue
            if checked is not _IGNORED:
                clean[name] = checked
        if (
            creating
            and not (clean.get("name") or "").strip()
            and not any(p.field == "name" for p in problems)
        ):
            problems.append(Problem("name", "Name must be given."))
        if problems:
            raise ValidationError(*problems)
        return clean

    def _field(self, object_type: str, name: str, value: JSON) -> Any:
        def refuse(message: str) -> ValidationError:
            return ValidationError(Problem(name, message))

        if name in ("add_time", "update_time", "marketing_status"):
            return _IGNORED  # accepted, and set by Pipedrive itself
        if name == "name":
            if not isinstance(value, str) or not value.strip():
                raise refuse("Name must be given.")
            return value.strip()
        if name == "owner_id":
            if isinstance(value, bool) or not isinstance(value, int) or value not in USER_BY_ID:
                raise refuse(f"owner_id: user {value!r} not found")
            return value
        if name == "org_id":
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise refuse("org_id must be an integer")
            if self.table.get("organizations", value) is None:
                raise refuse(f"Organization {value} not found")
            return value
        if name == "visible_to":
            if value not in VISIBILITY or isinstance(value, bool):
                raise refuse(f"visible_to must be one of {list(VISIBILITY)}")
            return value
        if name == "label_ids":
            if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise refuse("label_ids must be an array of integers")
            unknown = [v for v in value if v not in LABELS[object_type]]
            if unknown:
                raise refuse(f"Label(s) {unknown} not found")
            return list(dict.fromkeys(value))
        if name in ("emails", "phones"):
            return _contact_list(name, value)
        if name == "address":
            if value is None:
                return None
            if not isinstance(value, dict) or not isinstance(value.get("value", ""), str):
                raise refuse("address must be an object with a string value")
            return {"value": value.get("value")}
        if name == "custom_fields":
            if not isinstance(value, dict):
                raise refuse("custom_fields must be an object")
            return {code: _custom(object_type, code, v) for code, v in value.items()}
        raise refuse(f"Unknown field: {name}")

    # -- writes ----------------------------------------------------------------------------

    def create(self, object_type: str, clean: dict[str, Any]) -> Row:
        now = self.now_s()
        data = _defaults(object_type)
        _apply(object_type, data, clean)
        row = self.table.insert(object_type, data, created=now, modified=now)
        self.emit(object_type, row, "create", None)
        return row

    def update(self, object_type: str, row: Row, clean: dict[str, Any]) -> None:
        before = self.render(object_type, row)
        _apply(object_type, row.data, clean)
        self.table.save(row, modified=max(self.now_s(), int(row.modified)))
        after = self.render(object_type, row)
        previous = {k: v for k, v in before.items() if after.get(k) != v and k != "update_time"}
        if previous:
            self.emit(object_type, row, "change", previous)

    def delete(self, object_type: str, row: Row) -> None:
        last = self.render(object_type, row)
        now = self.now_s()
        self.table.delete(row, now, modified=now)
        if object_type == "organizations":  # its persons lose the link, as in Pipedrive
            for person in self.table.rows("persons"):
                if person.data.get("org_id") == row.id:
                    self.update("persons", person, {"org_id": None})
        self.emit(object_type, row, "delete", last)

    def emit(self, object_type: str, row: Row, action: str, previous: JSON) -> None:
        """One v2 event: {meta, data, previous} ("Guide for Webhooks v2": data is null for
        a delete, previous null for a create and the changed fields' old values on change)."""
        if not self.context.webhooks_wanted():
            return
        self.event_seq += 1
        data = None if action == "delete" else self.render(object_type, row)
        self.context.emit(
            {
                "meta": {
                    "action": action,
                    "entity": SINGULAR[object_type],
                    "company_id": str(COMPANY_ID),
                    "correlation_id": str(uuid.UUID(int=self.event_seq, version=4)),
                    "entity_id": str(row.id),
                    "id": str(uuid.uuid4()),
                    "is_bulk_edit": False,
                    "timestamp": iso(
                        row.modified if action != "delete" else row.deleted or 0
                    ).replace("Z", ".000Z"),
                    "type": "general",
                    "user_id": str(USERS[0]["id"]),
                    "version": "2.0",
                    "webhook_owner_id": str(USERS[0]["id"]),
                    "change_source": "api",
                    "attempt": 1,
                    "host": f"{COMPANY_DOMAIN}.pipedrive.com",
                    "permitted_user_ids": [str(u["id"]) for u in USERS],
                },
                "data": data,
                "previous": previous,
            }
        )

    # -- seed ------------------------------------------------------------------------------

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        wanted = dict(SEED_COUNTS)
        for name, count in counts.items():
            if name not in wanted:
                raise ValidationError(f"pipedrive has no object type {name!r} to seed")
            wanted[name] = count
        now = self.now_s()
        start = now - 365 * 86_400
        owners = [u["id"] for u in USERS]
        domains: list[tuple[int, str]] = []
        for _ in range(wanted["organizations"]):
            name, domain = fake.company()
            city, country = fake.city()
            created = int(fake.timestamp(start, now))
            data = _defaults("organizations")
            data.update(
                name=name,
                owner_id=fake.choice(owners),
                label_ids=[fake.choice([i for i, _, _ in ORG_LABELS])],
                address={"value": f"{fake.random.randrange(1, 200)} Main St, {city}, {country}"},
                custom_fields={
                    INDUSTRY: fake.choice([51, 52, 53, 54]),
                    EMPLOYEES: fake.random.randrange(5, 5000),
                    WEBSITE: f"https://{domain.removesuffix('.example')}.example",
                },
            )
            row = self.table.insert(
                "organizations", data, created=created, modified=int(fake.timestamp(created, now))
            )
            domains.append((row.id, domain))
        for n in range(wanted["persons"]):
            first, last = fake.person()
            org_id, domain = fake.choice(domains) if domains else (None, "example.org")
            created = int(fake.timestamp(start, now))
            data = _defaults("persons")
            emails = [{"value": fake.email(first, last, domain, n), "primary": True,
                       "label": "work"}]  # fmt: skip
            if n % 4 == 0:
                emails.append(
                    {
                        "value": fake.email(first, last, "mail.example", n),
                        "primary": False,
                        "label": "home",
                    }
                )
            data.update(
                name=f"{first} {last}",
                first_name=first,
                last_name=last,
                owner_id=fake.choice(owners),
                org_id=org_id,
                emails=emails,
                phones=[{"value": fake.phone(), "primary": True, "label": "work"}],
                label_ids=[fake.choice([i for i, _, _ in PERSON_LABELS])],
                custom_fields={
                    TIER: fake.choice([31, 32, 33]),
                    INTERESTS: sorted({fake.choice([41, 42, 43]), fake.choice([41, 42, 43])}),
                    NPS: fake.random.randrange(0, 11),
                    CONTRACT_VALUE: float(fake.amount()),
                    RENEWAL: date.fromtimestamp(
                        fake.timestamp(now, now + 365 * 86_400)
                    ).isoformat(),
                    SUPPORT_NOTES: fake.paragraph(2),
                },
            )
            self.table.insert(
                "persons", data, created=created, modified=int(fake.timestamp(created, now))
            )


class _Ignored:
    pass


_IGNORED = _Ignored()


def _defaults(object_type: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "",
        "owner_id": USERS[0]["id"],
        "label_ids": [],
        "visible_to": 3,
        "custom_fields": {},
    }
    if object_type == "persons":
        base.update(first_name=None, last_name=None, org_id=None, emails=[], phones=[])
    else:
        base["address"] = None
    return base


def _apply(object_type: str, data: dict[str, Any], clean: Mapping[str, Any]) -> None:
    for name, value in clean.items():
        if name == "custom_fields":
            merged = {**(data.get("custom_fields") or {}), **value}
            data["custom_fields"] = {k: v for k, v in merged.items() if v is not None}
        else:
            data[name] = value
    if object_type == "persons" and "name" in clean:
        first, _, last = clean["name"].partition(" ")
        data["first_name"], data["last_name"] = first, (last or None)


def _contact_list(name: str, value: JSON) -> list[dict[str, Any]]:
    """emails or phones: [{value, primary, label}], at most one primary (the first entry
    becomes primary when none is), empty values dropped."""
    labels = EMAIL_LABELS if name == "emails" else PHONE_LABELS
    if not isinstance(value, list):
        raise ValidationError(Problem(name, f"{name} must be an array"))
    out: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ValidationError(Problem(name, f"each of {name} needs a string value"))
        label = item.get("label", "work")
        if label not in labels:
            raise ValidationError(Problem(name, f"label {label!r} is not one of {list(labels)}"))
        primary = item.get("primary", False)
        if not isinstance(primary, bool):
            raise ValidationError(Problem(name, "primary must be true or false"))
        if item["value"].strip():
            out.append({"value": item["value"].strip(), "primary": primary, "label": label})
    if sum(1 for i in out if i["primary"]) > 1:
        raise ValidationError(Problem(name, f"only one of {name} can be primary"))
    if out and not any(i["primary"] for i in out):
        out[0]["primary"] = True
    return out


def _custom(object_type: str, code: str, value: JSON) -> Any:
    spec = CUSTOM_BY_CODE[object_type].get(code)
    if spec is None:
        raise ValidationError(Problem(code, f"Unknown custom field: {code}"))
    label, ftype, options = spec
    if value is None:
        return None

    def refuse(message: str) -> ValidationError:
        return ValidationError(Problem(code, f"{label}: {message}"))

    ids = {i for i, _ in options}
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if ftype in ("varchar", "text"):
        if not isinstance(value, str):
            raise refuse("expects a string")
        return value
    if ftype == "int":
        if not number or float(value) != int(value):
            raise refuse("expects an integer")
        return int(value)
    if ftype == "double":
        if not number:
            raise refuse("expects a number")
        return float(value)
    if ftype == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            raise refuse("expects a date as YYYY-MM-DD")
        try:
            date.fromisoformat(value)
        except ValueError:
            raise refuse("expects a valid date") from None
        return value
    if ftype == "enum":
        if value not in ids or isinstance(value, bool):
            raise refuse(f"option {value!r} does not exist")
        return value
    if ftype == "set":
        if not isinstance(value, list) or any(v not in ids or isinstance(v, bool) for v in value):
            raise refuse(f"options {value!r} do not all exist")
        return sorted(set(value))
    raise refuse(f"fields of type {ftype} cannot be written here")
