"""The Pipedrive connector: persons and organizations over API v2, users over v1.

Auth is an API token (Settings, Personal preferences, API), sent in the `x-api-token`
header, never in the query string (where it would end up in access logs). v2 covers
persons, organizations and their field lists; users (owners are synced by email) are v1
only, so `GET /v1/users` is read once per connector instance.

Changes come from the v2 listing sorted by `update_time` ascending with `updated_since`
(which is "later than or equal"), paged by Pipedrive's opaque cursor. Pipedrive's times
have one-second resolution, so the stored cursor is {"since": the last update_time read,
"seen": {id: digest of the record as read}} for the records of that second: a restarted
read asks from that second again and drops only records it has already seen unchanged. A
record changed again within the same second (a new digest) is returned again rather than
lost.

Deleted persons and organizations are not in the v2 listing (it has no filter for them;
DELETE only marks them, and Pipedrive purges them after 30 days), so deletions come from
`delete.*` webhooks and from the reconciliation that `list_ids` serves
(`deletes_in_feed=False`). A record read by id that Pipedrive answers with `is_deleted`
counts as gone.

Pipedrive has no batch endpoints for persons or organizations: writes are one call per
record, each failing alone (400 is that record's error). Creates are never retried after an
ambiguous failure (a retry could create the person twice).

Rate limits are token budgets: a daily budget per company and a burst limit per token in a
rolling 2-second window. A 429 names the wait in `x-ratelimit-reset`, which is obeyed like
a Retry-After (client.PipedriveHttp); a wait longer than the retry budget (the daily budget
spent) raises RateLimited with `retry_after` at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator

from connectors.answers import items as answer_items
from connectors.answers import need
from connectors.base import (
    JSON,
    ChangePage,
    Connector,
    ConnectorConfig,
    Cursor,
    FieldSpec,
    ObjectType,
    Record,
    RecordUpdate,
    WebhookRequest,
    WebhookResult,
    WriteResult,
    http_base_url,
)
from connectors.errors import ConfigurationError, RecordError
from connectors.pipedrive import mappers, webhooks
from connectors.pipedrive.client import (
    FIELD_LISTS,
    IDS_MAX,
    LIST_LIMIT,
    SYSTEM,
    V2,
    PipedriveClient,
    PipedriveHttp,
)

API_URL = "https://api.pipedrive.com"
OBJECT_TYPES = (
    ObjectType("persons", "Persons", webhooks=True, deletes_in_feed=False),
    ObjectType("organizations", "Organizations", webhooks=True, deletes_in_feed=False),
)
WEB_PATHS = {"persons": "person", "organizations": "organization"}


class PipedriveConfig(ConnectorConfig):
    """An API token; `base_url` points at Pipedrive or its sandbox."""

    base_url: str = Field(
        default=API_URL,
        title="API base URL",
        description=(
            "Leave as it is for Pipedrive (or use https://yourcompany.pipedrive.com); "
            "change it only for a local sandbox."
        ),
    )
    api_token: SecretStr = Field(
        title="API token",
        description=(
            "In Pipedrive: your name (top right), Personal preferences, API: Your personal "
            "API token. Concord acts with that user's permissions."
        ),
    )
    webhook_user: str = Field(
        default="concord",
        title="Webhook user name",
        description=(
            "The HTTP Basic user name to set on Pipedrive's webhook (http_auth_user); the "
            "password is the connection's webhook secret."
        ),
    )
    company_domain: str | None = Field(
        default=None,
        title="Company domain (optional)",
        description=(
            "The yourcompany of yourcompany.pipedrive.com. With it, Concord links to "
            "persons and organizations in Pipedrive."
        ),
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = http_base_url(value, "must start with https:// (or http:// for a local sandbox)")
        for suffix in ("/api/v2", "/v1"):  # the API root, whichever version was pasted
            value = value.removesuffix(suffix)
        return value

    @field_validator("api_token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("webhook_user")
    @classmethod
    def _user_name(cls, value: str) -> str:
        value = value.strip()
        if not value or ":" in value:
            raise ValueError("must be a non-empty name without ':'")
        return value

    @field_validator("company_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        value = (value or "").strip().lower().removesuffix(".pipedrive.com")
        if value and not value.replace("-", "").isalnum():
            raise ValueError("must be the company's name in its address, like acme")
        return value or None


class PipedriveConnector(Connector):
    kind: ClassVar[str] = "pipedrive"
    label: ClassVar[str] = "Pipedrive"
    config_class: ClassVar[type[ConnectorConfig]] = PipedriveConfig
    object_types_offered: ClassVar[tuple[ObjectType, ...]] = OBJECT_TYPES

    page_size: int = LIST_LIMIT

    def __init__(self, config: ConnectorConfig, **options: Any) -> None:
        super().__init__(config, **options)
        assert isinstance(config, PipedriveConfig)
        token = config.api_token.get_secret_value()
        self.http = PipedriveHttp(
            system=SYSTEM,
            base_url=config.base_url,
            headers={"x-api-token": token},
            secrets=[token],
            rate_limiter=self.rate_limiter,
            budget_key=self.budget_key,
            on_call=self.on_call,
            address_policy=self.address_policy,
            # The lowest plan's burst limit for an API token: 20 requests per 2 s.
            default_rate=(20, 2.0),
        )
        self.client = PipedriveClient(self.http)
        self._specs: dict[str, dict[str, FieldSpec]] = {}
        self._emails: dict[int, str] | None = None

    def close(self) -> None:
        self.http.close()

    def record_url(
        self, object_type: str, record_id: str, known: Mapping[str, Any] | None = None
    ) -> str | None:
        """https://{company}.pipedrive.com/person/{id}: it needs the optional company
        domain, which only a person can tell."""
        config = self.config
        assert isinstance(config, PipedriveConfig)
        path = WEB_PATHS.get(object_type)
        if not config.company_domain or path is None or not record_id:
            return None
        return f"https://{config.company_domain}.pipedrive.com/{path}/{quote(record_id, safe='')}"

    # -- discovery -------------------------------------------------------------------------

    def check(self) -> None:
        """The token works (GET /v1/users/me) and may read persons (one field-list page):
        a bad token is 401, a user without access to contacts 403."""
        self.client.me()
        self.client.field_page("persons", None)

    def object_types(self) -> list[ObjectType]:
        return list(OBJECT_TYPES)

    def fields(self, object_type: str) -> list[FieldSpec]:
        return list(self._field_specs(object_type).values())

    def _field_specs(self, object_type: str) -> dict[str, FieldSpec]:
        if object_type not in FIELD_LISTS:
            raise ConfigurationError(
                f"Pipedrive has no object type {object_type!r} here; "
                f"use one of {', '.join(FIELD_LISTS)}"
            )
        if object_type not in self._specs:
            self._specs[object_type] = self.discovered(
                object_type, lambda: self._discover(object_type)
            )
        return self._specs[object_type]

    def _discover(self, object_type: str) -> dict[str, FieldSpec]:
        call = f"GET {V2}/{FIELD_LISTS[object_type]}"
        specs: dict[str, FieldSpec] = {}
        cursor: str | None = None
        guard = self.page_guard(call, system=SYSTEM)
        while True:
            data = self.client.field_page(object_type, cursor)
            entries = answer_items(
                data, "data", system=SYSTEM, call=call,
                required={"field_code": str, "field_type": str},
            )  # fmt: skip
            for entry in entries:
                spec = mappers.field_spec(entry, object_type)
                if spec is not None:
                    specs[spec.name] = spec
            cursor = _next_cursor(data, call)
            guard.page(len(entries), cursor)
            if cursor is None:
                return specs

    def _users(self) -> dict[int, str]:
        """User id -> email (lower-case), read once per connector instance."""
        if self._emails is None:
            users = answer_items(
                {"data": self.client.users()}, "data", system=SYSTEM, call="GET /v1/users",
                required={"id": int},
            )  # fmt: skip
            self._emails = {int(u["id"]): str(u.get("email") or u["id"]).lower() for u in users}
        return self._emails

    def _user_ids(self) -> dict[str, int]:
        return {email: user_id for user_id, email in self._users().items()}

    def people_known(self, values: Sequence[str]) -> set[str] | None:
        """The emails (or user ids) of the company's users, from the one user list."""
        ids = self._user_ids()
        numbers = {str(user_id) for user_id in ids.values()}
        return {v for v in values if v.lower() in ids or v in numbers}

    # -- reads -----------------------------------------------------------------------------

    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        """Pages of records updated at or after the cursor's second, oldest first (see the
        module docstring for the cursor)."""
        specs = self._field_specs(object_type)
        users = self._users()
        since, seen = _read_cursor(cursor)
        call = f"GET {V2}/{object_type}"
        params: dict[str, Any] = {
            "sort_by": "update_time",
            "sort_direction": "asc",
            "limit": self.page_size,
        }
        if since is not None:
            params["updated_since"] = mappers.rfc3339(since)
        guard = self.page_guard(call, system=SYSTEM)
        while True:
            data = self.client.list_page(object_type, params)
            objects = answer_items(data, "data", system=SYSTEM, call=call)
            fresh: list[Record] = []
            for obj in objects:
                stamp = mappers.parse_time(obj.get("update_time") or obj.get("add_time"))
                digest = _digest(obj)
                record_id = str(obj["id"])
                if (
                    since is not None
                    and stamp is not None
                    and (stamp < since or (stamp == since and seen.get(record_id) == digest))
                ):
                    continue
                fresh.append(mappers.to_record(obj, specs, users))
                if stamp is None:
                    continue
                if since is None or stamp > since:
                    since, seen = stamp, {record_id: digest}
                elif stamp == since:
                    seen[record_id] = digest
            following = _next_cursor(data, call)
            guard.page(len(objects), following)
            next_cursor: Cursor = {
                "since": mappers.rfc3339(since) if since is not None else None,
                "seen": dict(sorted(seen.items())),
            }
            if fresh or following is None:
                yield ChangePage(records=fresh, cursor=next_cursor, has_more=following is not None)
            if following is None:
                return
            params["cursor"] = following

    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        specs = self._field_specs(object_type)
        users = self._users()
        found = self._read_raw(object_type, ids)
        return [
            mappers.to_record(found[i], specs, users)
            for i in dict.fromkeys(str(i) for i in ids)
            if i in found
        ]

    def _read_raw(self, object_type: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored records with these ids, as Pipedrive answers them (deleted left out)."""
        wanted = [i for i in dict.fromkeys(str(i) for i in ids) if i.isdigit()]
        call = f"GET {V2}/{object_type}"
        out: dict[str, dict[str, Any]] = {}
        for chunk in mappers.chunks(wanted, IDS_MAX):
            data = self.client.list_page(object_type, {"ids": ",".join(chunk), "limit": IDS_MAX})
            for obj in answer_items(data, "data", system=SYSTEM, call=call):
                if not obj.get("is_deleted"):
                    out[str(obj["id"])] = obj
        return out

    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        specs = self._field_specs(object_type)
        spec = specs.get(field)
        if spec is None:
            raise ConfigurationError(f"Pipedrive {object_type} have no field {field!r}")
        where = mappers.search_fields(object_type, spec)
        if where is None:
            raise ConfigurationError(
                f"Pipedrive cannot search {object_type} by {spec.label}; match on the name"
                + (", email or phone" if object_type == "persons" else " or address")
                + " or a text or number custom field"
            )
        wanted = {str(v).strip().lower() for v in values if v is not None and str(v).strip()}
        call = f"GET {V2}/{object_type}/search"
        ids: list[str] = []
        for term in sorted(wanted):
            cursor: str | None = None
            guard = self.page_guard(call, system=SYSTEM)
            while True:
                params: dict[str, Any] = {
                    "term": term, "fields": where, "exact_match": "true", "limit": LIST_LIMIT,
                }  # fmt: skip
                if cursor:
                    params["cursor"] = cursor
                data = self.client.search(object_type, params)
                body = need(data, "data", dict, system=SYSTEM, call=call, optional=True) or {}
                hits = answer_items(body, "items", system=SYSTEM, call=call, required={})
                for hit in hits:
                    item = need(hit, "item", dict, system=SYSTEM, call=call, where="items[]")
                    ids.append(str(need(item, "id", int, system=SYSTEM, call=call, where="item")))
                cursor = _next_cursor(data, call)
                guard.page(len(hits), cursor)
                if cursor is None:
                    break
        return [
            record
            for record in self.get(object_type, ids)
            if str(record.fields.get(field) or "").strip().lower() in wanted
        ]

    def list_ids(self, object_type: str) -> Iterator[list[str]]:
        self._field_specs(object_type)
        call = f"GET {V2}/{object_type}"
        params: dict[str, Any] = {"sort_by": "id", "limit": LIST_LIMIT}
        guard = self.page_guard(call, system=SYSTEM)
        while True:
            data = self.client.list_page(object_type, params)
            objects = answer_items(data, "data", system=SYSTEM, call=call)
            following = _next_cursor(data, call)
            guard.page(len(objects), following)
            yield [str(obj["id"]) for obj in objects if not obj.get("is_deleted")]
            if following is None:
                return
            params["cursor"] = following

    # -- writes ----------------------------------------------------------------------------

    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]:
        specs = self._field_specs(object_type)
        users = self._users()
        by_email = self._user_ids()
        call = f"POST {V2}/{object_type}"
        results: list[WriteResult] = []
        for fields in items:
            try:
                body = mappers.write_body(fields, specs, by_email)
                if not body.get("name"):
                    raise mappers.ValueRefused("name is required to create one")
            except mappers.ValueRefused as exc:
                results.append(WriteResult(error=_refused(str(exc), call)))
                continue
            try:
                data = self.client.create(object_type, body)
            except RecordError as exc:
                results.append(WriteResult(error=exc))
                continue
            stored = need(data, "data", dict, system=SYSTEM, call=call)
            need(stored, "id", int, system=SYSTEM, call=call, where="data")
            results.append(WriteResult(record=mappers.to_record(stored, specs, users)))
        return results

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        specs = self._field_specs(object_type)
        users = self._users()
        by_email = self._user_ids()
        # Emails and phones are lists: read them first, so the write keeps the other entries.
        lists = [i.id for i in items if set(i.fields) & set(mappers.LISTS)]
        current = self._read_raw(object_type, lists) if lists else {}
        results: list[WriteResult] = []
        for item in items:
            record_id = str(item.id)
            call = f"PATCH {V2}/{object_type}/{{id}}"
            if not record_id.isdigit():
                results.append(WriteResult(error=_refused("not a Pipedrive id", call, record_id)))
                continue
            try:
                body = mappers.write_body(item.fields, specs, by_email, current.get(record_id))
            except mappers.ValueRefused as exc:
                results.append(WriteResult(error=_refused(str(exc), call, record_id)))
                continue
            try:
                answer = self.client.update(object_type, record_id, body)
            except RecordError as exc:
                results.append(WriteResult(error=exc))
                continue
            if answer.status_code == 404:
                message = f"{object_type[:-1]} {record_id} no longer exists in Pipedrive"
                results.append(WriteResult(error=_refused(message, call, record_id, 404)))
                continue
            data = self.http.json(answer)
            stored = need(data, "data", dict, system=SYSTEM, call=call)
            results.append(WriteResult(record=mappers.to_record(stored, specs, users)))
        return results

    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        """Mark records deleted (Pipedrive purges them after 30 days); a record already
        gone (404) counts as deleted."""
        self._field_specs(object_type)
        results: list[WriteResult] = []
        for raw in ids:
            record_id = str(raw)
            if record_id.isdigit():
                try:
                    self.client.delete(object_type, record_id)
                except RecordError as exc:
                    results.append(WriteResult(error=exc))
                    continue
            results.append(WriteResult(record=Record(id=record_id, deleted=True)))
        return results

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        """Check the HTTP Basic credentials (`webhook_user`, the secret as password), then
        parse; there is no signature and no timestamp (connectors/pipedrive/webhooks.py)."""
        config = self.config
        assert isinstance(config, PipedriveConfig)
        webhooks.verify(request, config.webhook_user, secret)
        return webhooks.parse(request.body)


def _next_cursor(data: Any, call: str) -> str | None:
    """`additional_data.next_cursor`, checked; None at the end (null or absent)."""
    extra = need(data, "additional_data", dict, system=SYSTEM, call=call, optional=True) or {}
    following = need(
        extra, "next_cursor", str, system=SYSTEM, call=call, where="additional_data", optional=True
    )
    return following or None


def _read_cursor(cursor: Cursor | None) -> tuple[datetime | None, dict[str, str]]:
    if not cursor:
        return None, {}
    since_text = cursor.get("since")
    seen = cursor.get("seen") or {}
    since = mappers.parse_time(since_text) if since_text is not None else None
    if since_text is not None and since is None:
        raise ConfigurationError(f"invalid Pipedrive cursor: since={since_text!r}")
    if not isinstance(seen, dict):
        raise ConfigurationError("invalid Pipedrive cursor: seen must be an object")
    return since, {str(k): str(v) for k, v in seen.items()}


def _digest(obj: Mapping[str, Any]) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _refused(
    message: str, call: str, record_id: str | None = None, status: int | None = None
) -> RecordError:
    return RecordError(message, record_id=record_id, system=SYSTEM, call=call, status=status)


CONNECTOR = PipedriveConnector
