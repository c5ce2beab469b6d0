"""The HubSpot CRM connector: contacts, companies, deals and tickets over the v3 API.

Auth is a private-app access token (Bearer). Field discovery reads the properties API,
custom properties included. Changes come from the CRM search API, filtered on the
last-modified property (`lastmodifieddate` for contacts, `hs_lastmodifieddate` otherwise)
GTE the cursor, sorted ascending.

Why every page is a fresh query: search pages by offset (`after`), and HubSpot refuses to
page past 10,000 results. Offsets also shift under concurrent writes (a record modified
after page 1 moves to the end, and the record that was first on page 2 slides back into
page 1's range and would be skipped). So each page restarts the query from the last seen
modified time, which keeps `after` at 0, never meets the 10,000 cap, and cannot skip a
record. Records modified in the cursor's millisecond are remembered by id and dropped when
the restarted query returns them again. Only when one millisecond holds more records than a
page does the connector page with `after` inside that one query (up to the cap, beyond
which it raises rather than skip records).

Search does not report archived records, so deletions come from webhooks and from the
reconciliation that `list_ids` serves (`deletes_in_feed=False`).

Writes use batch create/update/archive, at most 100 inputs per call. Every input carries an
`objectWriteTraceId`, which turns HubSpot's all-or-nothing 400 into a 207 multi-status whose
errors name the failing inputs; answers are matched by trace id, never by position. Should
HubSpot still refuse a whole batch, its records are retried one per call so that the bad
one fails alone.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Mapping, Sequence
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
from connectors.errors import ConfigurationError, RecordError, TransientError
from connectors.http import HttpClient
from connectors.hubspot import mappers, webhooks
from connectors.hubspot.client import BATCH_MAX, REFUSED, SEARCH_PAGE_MAX, SYSTEM, HubSpotClient
from connectors.hubspot.client import batch_error as _batch_error

SEARCH_RESULT_CAP = 10_000
LIST_PAGE_MAX = 100  # GET /crm/v3/objects/{type} answers at most 100 a page
# How far before the server's time at the start of a full listing the change feed resumes:
# the Date header's truncated second and the time one page takes to serve, with room.
LISTING_OVERLAP_MS = 5_000
# The list endpoint takes the properties in its query string: an account with hundreds of
# properties would make a URL that proxies refuse, so such a first read stays on search.
LIST_PROPERTIES_MAX_CHARS = 6_000
# Values one IN / NOT_IN filter takes: the 100 that find() sends per IN filter too.
NOT_IN_MAX = 100
API_URL = "https://api.hubapi.com"
WEB_APP_URL = "https://app.hubspot.com"
# The object type ids HubSpot's web app addresses records by.
WEB_OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5"}
OBJECT_TYPES = (
    ObjectType("contacts", "Contacts", webhooks=True, deletes_in_feed=False),
    ObjectType("companies", "Companies", webhooks=True, deletes_in_feed=False),
    ObjectType("deals", "Deals", webhooks=True, deletes_in_feed=False),
    ObjectType("tickets", "Tickets", webhooks=True, deletes_in_feed=False),
)


class HubSpotConfig(ConnectorConfig):
    """A private app's access token; `base_url` points at HubSpot or its sandbox."""

    base_url: str = Field(
        default=API_URL,
        title="API base URL",
        description="Leave as it is for HubSpot; change it only for a local sandbox.",
    )
    access_token: SecretStr = Field(
        title="Private app access token",
        description=(
            "In HubSpot: Settings, Integrations, Private Apps, your app, Auth tab: "
            "Access token (it starts with pat-)."
        ),
    )

    portal_id: str | None = Field(
        default=None,
        title="Account ID (optional)",
        description=(
            "Your HubSpot account ID (Hub ID): the number after /contacts/ in the address of "
            "any HubSpot page. With it, Concord links to records in HubSpot."
        ),
    )

    @field_validator("portal_id")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and not value.isdigit():
            raise ValueError("must be the account ID's digits only, like 21436587")
        return value or None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_base_url(value, "must start with https:// (or http:// for a local sandbox)")

    @field_validator("access_token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class HubSpotConnector(Connector):
    kind: ClassVar[str] = "hubspot"
    label: ClassVar[str] = "HubSpot"
    config_class: ClassVar[type[ConnectorConfig]] = HubSpotConfig
    object_types_offered: ClassVar[tuple[ObjectType, ...]] = OBJECT_TYPES
    # HubSpot signs every delivery with the app's client secret; Concord cannot choose it.
    webhook_secret_from_system: ClassVar[bool] = True

    page_size: int = SEARCH_PAGE_MAX
    search_cap: int = SEARCH_RESULT_CAP

    def __init__(self, config: ConnectorConfig, **options: Any) -> None:
        super().__init__(config, **options)
        assert isinstance(config, HubSpotConfig)
        token = config.access_token.get_secret_value()
        self.http = HttpClient(
            system=SYSTEM,
            base_url=config.base_url,
            headers={"Authorization": f"Bearer {token}"},
            secrets=[token],
            rate_limiter=self.rate_limiter,
            budget_key=self.budget_key,
            on_call=self.on_call,
            address_policy=self.address_policy,
            # Free/Starter private apps: 100 requests per 10 s.
            default_rate=(100, 10.0),
        )
        self.client = HubSpotClient(self.http)
        self._specs: dict[str, dict[str, FieldSpec]] = {}

    def close(self) -> None:
        self.http.close()

    def record_url(
        self, object_type: str, record_id: str, known: Mapping[str, Any] | None = None
    ) -> str | None:
        """HubSpot's record page: app.hubspot.com/contacts/{account}/record/{type}/{id}; it
        needs the account ID, which only a person can tell (the optional `portal_id`)."""
        config = self.config
        assert isinstance(config, HubSpotConfig)
        type_id = WEB_OBJECT_TYPE_IDS.get(object_type)
        if not config.portal_id or type_id is None or not record_id:
            return None
        # The API host is not the web host; a sandbox serves both at its base URL.
        web = WEB_APP_URL if config.base_url == API_URL else config.base_url
        return f"{web}/contacts/{config.portal_id}/record/{type_id}/{quote(record_id, safe='')}"

    # -- discovery -------------------------------------------------------------------------

    def check(self) -> None:
        self.client.account_details()

    def object_types(self) -> list[ObjectType]:
        return list(OBJECT_TYPES)

    def fields(self, object_type: str) -> list[FieldSpec]:
        return list(self._field_specs(object_type).values())

    def _field_specs(self, object_type: str) -> dict[str, FieldSpec]:
        self._known(object_type)
        if object_type not in self._specs:
            self._specs[object_type] = self.discovered(
                object_type, lambda: self._discover(object_type)
            )
        return self._specs[object_type]

    def _discover(self, object_type: str) -> dict[str, FieldSpec]:
        props = answer_items(
            {"results": self.client.properties(object_type)},
            "results",
            system=SYSTEM,
            call=f"GET /crm/v3/properties/{object_type}",
            required={"name": str},
        )
        return {p["name"]: mappers.field_spec(p, object_type) for p in props if not p.get("hidden")}

    def _known(self, object_type: str) -> None:
        if object_type not in mappers.MODIFIED_PROPERTY:
            raise ConfigurationError(
                f"HubSpot has no object type {object_type!r}; "
                f"use one of {', '.join(mappers.MODIFIED_PROPERTY)}"
            )

    # -- reads -----------------------------------------------------------------------------

    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        """Pages of records modified at or after the cursor's time, oldest first; without a
        cursor, every record (the full listing) and then what changed while it was read.

        The cursor is {"since": epoch ms or None, "ids": [ids seen at exactly "since"]},
        or, part way through a full listing, {"listing": {"after": token, "anchor": ms}}.
        """
        specs = self._field_specs(object_type)
        listing = _read_listing(cursor)
        if listing is not None or (
            cursor is None and len(",".join(specs)) <= LIST_PROPERTIES_MAX_CHARS
        ):
            after, anchor = listing or (None, None)
            anchor = yield from self._listing(object_type, specs, after, anchor)
            # What changed from just before the listing began: records written while it
            # ran (some read again, which a reader takes as unchanged), and the exact
            # search cursor the next read starts from.
            cursor = {"since": anchor, "ids": []}
        yield from self._search_changes(object_type, specs, cursor)

    def _listing(
        self,
        object_type: str,
        specs: dict[str, FieldSpec],
        after: str | None,
        anchor: int | None,
    ) -> Generator[ChangePage, None, int]:
        """Every record through the list endpoint, in id order, 100 a page.

        The list endpoint is not search: it has no 4-a-second limit and no 10,000-result
        cap, so a first read of 100,000 contacts is 1,000 calls at the account's rate
        instead of 500 searches at 4 a second. Its order is by id, not modification, so it
        cannot say where the change feed resumes; the anchor is the server's time (its
        `Date` header) when the listing began, less LISTING_OVERLAP_MS for the second the
        header truncates and the time a page takes to serve. Returns the anchor.
        """
        call = f"GET /crm/v3/objects/{object_type}"
        guard = self.page_guard(call, start=[after], system=SYSTEM)
        while True:
            started = int(time.time() * 1000)
            data, served = self.client.list_page_dated(
                object_type, after, list(specs), limit=min(self.page_size, LIST_PAGE_MAX)
            )
            if anchor is None:
                anchor = (served if served is not None else started) - LISTING_OVERLAP_MS
            results = answer_items(data, "results", system=SYSTEM, call=call)
            after = _next_after(data, call)
            guard.page(len(results), [after] if after else None)
            records = [mappers.to_record(obj, specs) for obj in results]
            if not after:
                if records:
                    yield ChangePage(
                        records=records,
                        cursor={"since": anchor, "ids": []},
                        has_more=True,
                    )
                return anchor
            yield ChangePage(
                records=records,
                cursor={"listing": {"after": after, "anchor": anchor}},
                has_more=True,
            )

    def _search_changes(
        self, object_type: str, specs: dict[str, FieldSpec], cursor: Cursor | None
    ) -> Iterator[ChangePage]:
        modified_prop = mappers.MODIFIED_PROPERTY[object_type]
        since, boundary = _read_cursor(cursor)
        offset = 0
        call = f"POST /crm/v3/objects/{object_type}/search"
        # The position is the query itself: an empty page that says more follow would make
        # the next query the same one (same since, offset and exclusions), forever.
        # The records seen at exactly "since" that the query leaves out (see _since_groups),
        # fixed for the query: paging inside a query must not change it.
        excluded = _excludable(boundary)
        guard = self.page_guard(call, start=[since, 0, len(excluded)], system=SYSTEM)
        while True:
            body: dict[str, Any] = {
                "filterGroups": _since_groups(modified_prop, since, excluded),
                "sorts": [{"propertyName": modified_prop, "direction": "ASCENDING"}],
                "properties": list(specs),
                "limit": self.page_size,
            }
            if offset:
                if offset + self.page_size > self.search_cap:
                    raise TransientError(
                        f"more than {self.search_cap} {object_type} share the modified time "
                        f"{since}; HubSpot search cannot page through them",
                        system=SYSTEM,
                        call=f"POST /crm/v3/objects/{object_type}/search",
                    )
                body["after"] = str(offset)
            query_since = since
            data = self.client.search(object_type, body)
            results = answer_items(data, "results", system=SYSTEM, call=call)
            has_more = _next_after(data, call) is not None
            fresh: list[Record] = []
            for obj in results:
                record = mappers.to_record(obj, specs)
                stamp = _modified_ms(obj, modified_prop)
                seen = (
                    since is not None
                    and stamp is not None
                    and (stamp < since or (stamp == since and record.id in boundary))
                )
                if seen:
                    continue
                fresh.append(record)
                if stamp is not None:
                    if since is None or stamp > since:
                        since, boundary = stamp, {record.id}
                    elif stamp == since:
                        boundary.add(record.id)
            # The next query starts after what was read: from the new "since", leaving out
            # the records read at that time while they fit in one NOT_IN filter. Past that
            # (a millisecond holding more records than a NOT_IN takes), the next page
            # belongs to the same plain query: page inside it.
            if since != query_since or _excludable(boundary) or excluded:
                offset, excluded = 0, _excludable(boundary)
            else:
                offset += len(results)
            guard.page(len(results), [since, offset, len(excluded)] if has_more else None)
            next_cursor: Cursor = {"since": since, "ids": sorted(boundary)}
            if fresh or not has_more:
                yield ChangePage(records=fresh, cursor=next_cursor, has_more=has_more)
            if not has_more:
                return

    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        specs = self._field_specs(object_type)
        wanted = list(dict.fromkeys(str(i) for i in ids))
        out: dict[str, Record] = {}
        for chunk in mappers.chunks(wanted, BATCH_MAX):
            _, body = self.client.batch(
                object_type, "read", [{"id": i} for i in chunk], properties=list(specs)
            )
            read = self._call(object_type, "read")
            for obj in answer_items(body, "results", system=SYSTEM, call=read):
                record = mappers.to_record(obj, specs)
                out[record.id] = record
        return [out[i] for i in wanted if i in out]

    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        specs = self._field_specs(object_type)
        if field not in specs:
            raise ConfigurationError(f"HubSpot {object_type} have no property {field!r}")
        spec = specs[field]
        wanted: list[str] = []
        for value in values:
            if value is None:
                continue
            try:
                wanted.append(mappers.search_value(value, spec))
            except mappers.ValueRefused:
                continue  # a value the property cannot hold matches no record
        wanted = list(dict.fromkeys(wanted))
        found: dict[str, Record] = {}
        call = f"POST /crm/v3/objects/{object_type}/search"
        for chunk in mappers.chunks(wanted, 100):
            after: str | None = None
            guard = self.page_guard(call, system=SYSTEM)
            while True:
                body: dict[str, Any] = {
                    "filterGroups": [
                        {"filters": [{"propertyName": field, "operator": "IN", "values": chunk}]}
                    ],
                    "properties": list(specs),
                    "limit": self.page_size,
                }
                if after:
                    body["after"] = after
                data = self.client.search(object_type, body)
                results = answer_items(data, "results", system=SYSTEM, call=call)
                for obj in results:
                    record = mappers.to_record(obj, specs)
                    found[record.id] = record
                after = _next_after(data, call)
                guard.page(len(results), after)
                if not after or _beyond_cap(after, self.page_size, self.search_cap):
                    break
        return list(found.values())

    def list_ids(self, object_type: str) -> Iterator[list[str]]:
        self._known(object_type)
        after: str | None = None
        call = f"GET /crm/v3/objects/{object_type}"
        guard = self.page_guard(call, system=SYSTEM)
        while True:
            data = self.client.list_page(object_type, after, ["hs_object_id"])
            results = answer_items(data, "results", system=SYSTEM, call=call)
            after = _next_after(data, call)
            guard.page(len(results), after)
            yield [str(obj["id"]) for obj in results]
            if not after:
                return

    # -- writes ----------------------------------------------------------------------------

    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]:
        specs = self._field_specs(object_type)
        results: list[WriteResult | None] = [None] * len(items)
        pending: list[tuple[int, dict[str, Any]]] = []
        for index, fields in enumerate(items):
            try:
                props = mappers.properties_for_write(fields, specs)
            except mappers.ValueRefused as exc:
                results[index] = WriteResult(error=self._refused(str(exc), object_type, "create"))
                continue
            pending.append((index, {"properties": props}))
        self._write(object_type, "create", pending, specs, results)
        return [r if r is not None else self._missing(object_type, "create") for r in results]

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        specs = self._field_specs(object_type)
        results: list[WriteResult | None] = [None] * len(items)
        pending: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(items):
            try:
                props = mappers.properties_for_write(item.fields, specs)
            except mappers.ValueRefused as exc:
                error = self._refused(str(exc), object_type, "update", item.id)
                results[index] = WriteResult(error=error)
                continue
            pending.append((index, {"id": str(item.id), "properties": props}))
        self._write(object_type, "update", pending, specs, results)
        return [
            r if r is not None else self._missing(object_type, "update", items[i].id)
            for i, r in enumerate(results)
        ]

    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        """Archive records (HubSpot keeps them restorable for 90 days); unknown ids count
        as deleted, as HubSpot's batch archive ignores them."""
        self._known(object_type)
        errors: dict[str, RecordError] = {}
        unique = list(dict.fromkeys(str(i) for i in ids))
        for chunk in mappers.chunks(unique, BATCH_MAX):
            status, body = self.client.batch(object_type, "archive", [{"id": i} for i in chunk])
            if status in REFUSED:
                call = self._call(object_type, "archive")
                for record_id in chunk:
                    errors[record_id] = _batch_error(
                        body, call=call, status=status, record_id=record_id
                    )
        return [
            WriteResult(error=errors[str(i)])
            if str(i) in errors
            else WriteResult(record=Record(id=str(i), deleted=True))
            for i in ids
        ]

    def _write(
        self,
        object_type: str,
        action: str,
        pending: list[tuple[int, dict[str, Any]]],
        specs: dict[str, FieldSpec],
        results: list[WriteResult | None],
    ) -> None:
        for chunk in _chunks_without_duplicate_ids(pending):
            self._write_chunk(object_type, action, chunk, specs, results)

    def _write_chunk(
        self,
        object_type: str,
        action: str,
        chunk: list[tuple[int, dict[str, Any]]],
        specs: dict[str, FieldSpec],
        results: list[WriteResult | None],
    ) -> None:
        call = self._call(object_type, action)
        inputs = [{**payload, "objectWriteTraceId": str(index)} for index, payload in chunk]
        status, body = self.client.batch(object_type, action, inputs, properties=None)
        if status in REFUSED:
            if len(chunk) > 1:
                # The batch was refused as a whole: find the culprit by sending one by one.
                for single in chunk:
                    self._write_chunk(object_type, action, [single], specs, results)
                return
            index, payload = chunk[0]
            results[index] = WriteResult(
                error=_batch_error(body, call=call, status=status, record_id=payload.get("id"))
            )
            return
        by_trace = {index: payload for index, payload in chunk}
        for obj in answer_items(body, "results", system=SYSTEM, call=call):
            trace = obj.get("objectWriteTraceId")
            if trace is not None and int(trace) in by_trace:
                results[int(trace)] = WriteResult(record=mappers.to_record(obj, specs))
            elif action == "update":
                # Without a trace id, an update result still names its record.
                for index, payload in chunk:
                    if payload.get("id") == str(obj.get("id")):
                        results[index] = WriteResult(record=mappers.to_record(obj, specs))
        for error in body.get("errors") or ():
            context = error.get("context") or {}
            traces = [int(t) for t in context.get("objectWriteTraceId") or () if t.isdigit()]
            ids = [str(i) for i in context.get("ids") or ()]
            targets = [t for t in traces if t in by_trace] or [
                index for index, payload in chunk if payload.get("id") in ids
            ]
            for index in targets:
                if results[index] is None:
                    record_id = by_trace[index].get("id")
                    results[index] = WriteResult(
                        error=_batch_error(error, call=call, status=status, record_id=record_id)
                    )

    def _call(self, object_type: str, action: str) -> str:
        return f"POST /crm/v3/objects/{object_type}/batch/{action}"

    def _refused(
        self, message: str, object_type: str, action: str, record_id: str | None = None
    ) -> RecordError:
        return RecordError(
            message, record_id=record_id, system=SYSTEM, call=self._call(object_type, action)
        )

    def _missing(self, object_type: str, action: str, record_id: str | None = None) -> WriteResult:
        return WriteResult(
            error=self._refused(
                "HubSpot answered without a result or an error for this record",
                object_type,
                action,
                record_id,
            )
        )

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        webhooks.verify(request, secret, now=now)
        return webhooks.parse(request.body)


def _next_after(data: dict[str, Any], call: str) -> str | None:
    """The `paging.next.after` token of a search or list answer, checked; None at the end."""
    paging = need(data, "paging", dict, system=SYSTEM, call=call, optional=True) or {}
    following = need(paging, "next", dict, system=SYSTEM, call=call, where="paging", optional=True)
    if not following:
        return None
    after = need(following, "after", (str, int), system=SYSTEM, call=call, where="paging.next")
    return str(after)


def _beyond_cap(after: str, page_size: int, cap: int) -> bool:
    """Whether the page at offset `after` would pass search's 10,000-result cap (an
    `after` that is not an offset cannot be judged: the guard stops it if it loops)."""
    return after.isdigit() and int(after) + page_size > cap


def _since_groups(modified_prop: str, since: int | None, excluded: list[str]) -> list[Any]:
    """The filter groups of the change feed's query from `since` (None: every record).

    Without `excluded`, "modified >= since": the records seen at exactly `since` come back
    and are skipped, which is a whole page's worth when a batch write gave hundreds of
    records the same millisecond (a listing of batch-created records would then read every
    record about twice). With it, "modified > since, or modified = since and not one of
    those": the same records, minus the ones seen, whatever order HubSpot gives equal
    times. A record seen at `since` and modified again has a later time, so the first
    group still brings it.
    """
    if since is None:
        return []
    if not excluded:
        return [
            {"filters": [{"propertyName": modified_prop, "operator": "GTE", "value": str(since)}]}
        ]
    return [
        {"filters": [{"propertyName": modified_prop, "operator": "GT", "value": str(since)}]},
        {
            "filters": [
                {"propertyName": modified_prop, "operator": "EQ", "value": str(since)},
                {"propertyName": "hs_object_id", "operator": "NOT_IN", "values": excluded},
            ]
        },
    ]


def _excludable(boundary: set[str]) -> list[str]:
    """The ids of `boundary` for a NOT_IN filter, or none if they are too many for one."""
    return sorted(boundary, key=_id_order) if len(boundary) <= NOT_IN_MAX else []


def _id_order(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


def _read_listing(cursor: Cursor | None) -> tuple[str, int] | None:
    """(after, anchor) of a cursor saved part way through a full listing, else None."""
    listing = (cursor or {}).get("listing")
    if listing is None:
        return None
    after, anchor = (
        (listing.get("after"), listing.get("anchor")) if isinstance(listing, dict) else (None, None)
    )
    if (
        not isinstance(after, str)
        or not after
        or isinstance(anchor, bool)
        or not isinstance(anchor, int)
    ):
        raise ConfigurationError(f"invalid HubSpot cursor: listing={listing!r}")
    return after, anchor


def _read_cursor(cursor: Cursor | None) -> tuple[int | None, set[str]]:
    if not cursor:
        return None, set()
    since = cursor.get("since")
    ids = cursor.get("ids") or []
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
        raise ConfigurationError(f"invalid HubSpot cursor: since={since!r}")
    if not isinstance(ids, list):
        raise ConfigurationError("invalid HubSpot cursor: ids must be a list")
    return since, {str(i) for i in ids}


def _modified_ms(obj: dict[str, Any], prop: str) -> int | None:
    value = (obj.get("properties") or {}).get(prop) or obj.get("updatedAt")
    moment = mappers.parse_timestamp(value) if value else None
    return mappers.to_ms(moment) if moment else None


def _chunks_without_duplicate_ids(
    pending: list[tuple[int, dict[str, Any]]],
) -> list[list[tuple[int, dict[str, Any]]]]:
    """Batches of <= 100 in input order; a repeated id starts a new batch (HubSpot refuses
    duplicate ids within one batch update)."""
    chunks: list[list[tuple[int, dict[str, Any]]]] = []
    current: list[tuple[int, dict[str, Any]]] = []
    ids: set[str] = set()
    for item in pending:
        record_id = item[1].get("id")
        if len(current) >= BATCH_MAX or (record_id is not None and record_id in ids):
            chunks.append(current)
            current, ids = [], set()
        current.append(item)
        if record_id is not None:
            ids.add(record_id)
    if current:
        chunks.append(current)
    return chunks


CONNECTOR = HubSpotConnector
