"""The HubSpot sandbox's HTTP side: authentication, errors, rate limits and the endpoints of
the CRM v3 API for contacts, companies, deals and tickets.

Each handler names its page of HubSpot's API reference (developers.hubspot.com/docs/
api-reference). Records live in state.HubSpotState; searches are query.py's.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any
from urllib.parse import urlencode

from connectors.hubspot.sandbox import query, webhooks
from connectors.hubspot.sandbox.schema import (
    APP_ID,
    OBJECTS,
    PORTAL_ID,
    PROPERTIES,
    SCHEMA,
    SINGULAR,
    TYPE_IDS,
    iso_ms,
)
from connectors.hubspot.sandbox.state import TOKENS, HubSpotState, connection_config
from connectors.sandbox.core import (
    JSON,
    Delivery,
    HttpError,
    Problem,
    RateLimit,
    Request,
    Response,
    ValidationError,
    VendorSandbox,
    WebhookTarget,
    record_page,
    route,
)
from connectors.sandbox.records import Row

BATCH_MAX = 100
SEARCH_LIMIT_MAX = 200
LIST_LIMIT_MAX = 100
WEB_RECORD = re.compile(
    r"^/contacts/(?P<portal>[0-9]+)/record/(?P<type_id>[0-9]+-[0-9]+)/(?P<id>[^/]+)/?$"
)
SINGULAR_LABEL = {
    "contacts": "Contact",
    "companies": "Company",
    "deals": "Deal",
    "tickets": "Ticket",
}
NOT_FOUND = "Object not found.  objectId are usually numeric."


class HubSpotSandbox(VendorSandbox):
    kind = "hubspot"
    rate_limits = {
        "ten_secondly_rolling": RateLimit(100, 10.0),
        "daily": RateLimit(250_000, 86_400.0),
        "search_secondly": RateLimit(5, 1.0),
    }
    default_limits = ("ten_secondly_rolling", "daily")
    state_class = HubSpotState
    state: HubSpotState

    # -- protocol hooks --------------------------------------------------------------------

    def connection_config(self, base_url: str) -> dict[str, JSON]:
        return connection_config(base_url)

    def web_page(self, request: Request) -> Response | None:
        """A record's page in HubSpot's web app: /contacts/{account}/record/{type}/{id}."""
        found = WEB_RECORD.match(request.path)
        if found is None or found["portal"] != str(PORTAL_ID):
            return None
        object_type = TYPE_IDS.get(found["type_id"])
        if object_type is None:
            return None
        with self.lock:
            row = self.state.get(object_type, found["id"])
            data = dict(row.data.get("properties") or {}) if row is not None else None
        return record_page(
            "HubSpot", f"{SINGULAR_LABEL.get(object_type, object_type)} {found['id']}", data
        )

    def authenticate(self, request: Request) -> str | Response:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token not in TOKENS:
            return _error(
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
        return _error(status, message, category)

    def refuse(self, error: ValidationError) -> Response:
        """Property problems as HubSpot's VALIDATION_ERROR with `errors`; anything else as
        its plain 400."""
        if error.fields():
            return Response.json(400, _validation_body(list(error.problems)))
        return self.error(400, str(error))

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

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        """Batches of up to 100 events, signed v3 (and legacy v1): sandbox/webhooks.py."""
        return webhooks.deliveries(events, target, now)

    # -- request helpers -------------------------------------------------------------------

    def _require_write(self, request: Request, object_type: str) -> None:
        if TOKENS.get(request.identity) != "write":
            raise _fail(
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

    def _live(self, object_type: str, record_id: str) -> Row:
        row = self.state.get(object_type, record_id)
        if row is None:
            raise _fail(404, NOT_FOUND, "OBJECT_NOT_FOUND", context={"id": [record_id]})
        return row

    def _validated(self, object_type: str, props: JSON, *, creating: bool) -> dict[str, str]:
        clean, problems = self.state.validate(object_type, props, creating=creating)
        if problems:
            raise ValidationError(*problems)
        return clean

    # -- account and schema ----------------------------------------------------------------

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
        object_type = _object_type(request)
        return Response.json(200, {"results": copy.deepcopy(SCHEMA[object_type])})

    @route("GET", "/crm/v3/properties/{object_type}/{property_name}")
    def read_property(self, request: Request) -> Response:
        """Reference: "CRM API | Properties | Read a property"."""
        object_type = _object_type(request)
        spec = PROPERTIES[object_type].get(request.params["property_name"])
        if spec is None:
            raise _fail(
                404,
                f"Unable to find property {request.params['property_name']} "
                f"for object type {object_type}",
                "OBJECT_NOT_FOUND",
            )
        return Response.json(200, copy.deepcopy(spec))

    # -- single records --------------------------------------------------------------------

    @route("GET", "/crm/v3/objects/{object_type}")
    def list_objects(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | List" (GET /crm/v3/objects/{objectType}).

        Paged by `after` (the last id seen); `paging.next.link` leads back to this sandbox.
        """
        object_type = _object_type(request)
        limit = _int(request.arg("limit", "10"), "limit")
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise ValidationError(f"limit must be between 1 and {LIST_LIMIT_MAX}")
        after = request.arg("after")
        archived = request.arg("archived", "false") == "true"
        properties = request.args("properties") or None
        floor = _int(after, "after") if after else -1
        page, more = self.state.table.rows_after(
            object_type, floor, limit, "deleted" if archived else "live"
        )
        body: dict[str, Any] = {
            "results": [self.state.render(object_type, r, properties) for r in page]
        }
        if more:
            following = {k: v for k, v in request.query.items() if k != "after"}
            following["after"] = [str(page[-1].id)]
            link = f"{request.base_url}{request.path}?{urlencode(following, doseq=True)}"
            body["paging"] = {"next": {"after": str(page[-1].id), "link": link}}
        return Response.json(200, body)

    @route("GET", "/crm/v3/objects/{object_type}/{object_id}")
    def get_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Read" (GET /crm/v3/objects/{objectType}/{id}),
        by id or, with `idProperty`, by a unique property's value."""
        object_type = _object_type(request)
        key = request.params["object_id"]
        archived = request.arg("archived", "false") == "true"
        id_property = request.arg("idProperty")
        if id_property and not archived:
            row = self.state.lookup(object_type, key, id_property)
        else:
            row = self.state.get(object_type, key, archived=archived)
        if row is None:
            raise _fail(404, NOT_FOUND, "OBJECT_NOT_FOUND", context={"id": [key]})
        return Response.json(
            200, self.state.render(object_type, row, request.args("properties") or None)
        )

    @route("POST", "/crm/v3/objects/{object_type}")
    def create_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Create" (POST /crm/v3/objects/{objectType})."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        body = _body(request)
        clean = self._validated(object_type, body.get("properties", {}), creating=True)
        conflict = self.state.conflict(object_type, clean, None)
        if conflict:
            raise _fail(409, conflict, "CONFLICT")
        row = self.state.create(object_type, clean, self.state.now_ms())
        return Response.json(201, self.state.render(object_type, row, list(clean)))

    @route("PATCH", "/crm/v3/objects/{object_type}/{object_id}")
    def update_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Update" (PATCH /crm/v3/objects/{type}/{id})."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        row = self._live(object_type, request.params["object_id"])
        body = _body(request)
        clean = self._validated(object_type, body.get("properties", {}), creating=False)
        conflict = self.state.conflict(object_type, clean, row.id)
        if conflict:
            raise _fail(409, conflict, "CONFLICT")
        self.state.apply(object_type, row, clean, self.state.now_ms())
        return Response.json(200, self.state.render(object_type, row, list(clean)))

    @route("DELETE", "/crm/v3/objects/{object_type}/{object_id}")
    def archive_object(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Archive" (DELETE /crm/v3/objects/{type}/{id})."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        row = self.state.get(object_type, request.params["object_id"])
        if row is not None:
            self.state.archive(object_type, row, self.state.now_ms())
        return Response.empty(204)

    @route("POST", "/crm/v3/objects/{object_type}/merge")
    def merge(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Merge" ({primaryObjectId, objectIdToMerge}): the
        primary keeps its id and values, takes the other's where it has none; the merged
        record is gone (a `*.merge` webhook names both)."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        body = _body(request)
        primary_id, merged_id = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if not isinstance(primary_id, str | int) or not isinstance(merged_id, str | int):
            raise ValidationError("primaryObjectId and objectIdToMerge are required")
        if str(primary_id) == str(merged_id):
            raise ValidationError("An object cannot be merged into itself")
        primary = self._live(object_type, str(primary_id))
        merged = self._live(object_type, str(merged_id))
        self.state.merge(object_type, primary, merged, self.state.now_ms())
        return Response.json(200, self.state.render(object_type, primary, None))

    @route("POST", "/crm/v3/objects/contacts/gdpr-delete")
    def gdpr_delete(self, request: Request) -> Response:
        """Reference: "CRM API | Contacts | GDPR delete" ({objectId, idProperty?}): the
        contact is deleted for good, not archived (deletion and privacyDeletion webhooks)."""
        self._require_write(request, "contacts")
        body = _body(request)
        key = body.get("objectId")
        if not isinstance(key, str | int) or not str(key):
            raise ValidationError("objectId is required")
        row = self.state.lookup("contacts", str(key), body.get("idProperty"))
        if row is None:
            raise _fail(404, NOT_FOUND, "OBJECT_NOT_FOUND", context={"id": [str(key)]})
        self.state.gdpr_delete(row, self.state.now_ms())
        return Response.empty(204)

    # -- search ----------------------------------------------------------------------------

    @route("POST", "/crm/v3/objects/{object_type}/search", limits=("search_secondly",))
    def search(self, request: Request) -> Response:
        """Reference: "CRM API | Search" (POST /crm/v3/objects/{objectType}/search): filter
        groups, one sort, `after` as an offset and the result cap (10,000 by default)."""
        object_type = _object_type(request)
        body = _body(request)
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 <= limit <= SEARCH_LIMIT_MAX:
            raise ValidationError(f"limit must be between 0 and {SEARCH_LIMIT_MAX}")
        after = _int(str(body.get("after") or "0"), "after")
        cap = self.state.search_cap
        if after + limit > cap or after >= cap:
            raise ValidationError(
                f"Search results are limited to {cap} results; after={after} "
                f"with limit={limit} pages past that. Narrow the query instead of paging."
            )
        groups = body.get("filterGroups") or []
        sorts = body.get("sorts") or []
        query.check_shape(groups, sorts)
        table = self.state.table
        feed = query.change_feed(table, object_type, groups, sorts, body.get("query"))
        if feed is not None:
            order, start = feed
            page = order[start + after : start + after + limit]
            total = len(order) - start
        else:
            rows = query.search(table, object_type, groups, sorts, body.get("query"))
            page, total = rows[after : after + limit], len(rows)
        properties = body.get("properties") or None
        out: dict[str, Any] = {
            "total": total,
            "results": [self.state.render(object_type, r, properties) for r in page],
        }
        if after + limit < total and limit:
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response.json(200, out)

    # -- batches ---------------------------------------------------------------------------

    @route("POST", "/crm/v3/objects/{object_type}/batch/read")
    def batch_read(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch read" (POST .../batch/read)."""
        object_type = _object_type(request)
        body = _body(request)
        inputs = _inputs(body)
        properties = body.get("properties") or None
        id_property = body.get("idProperty")
        found, missing = [], []
        for item in inputs:
            key = str(item.get("id", "")) if isinstance(item, dict) else ""
            row = self.state.lookup(object_type, key, id_property)
            if row is None:
                missing.append(key)
            else:
                found.append(self.state.render(object_type, row, properties))
        return self._batch_answer(found, _missing_errors(object_type, missing), 200)

    @route("POST", "/crm/v3/objects/{object_type}/batch/create")
    def batch_create(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch create" and "Error handling" (multi-status)."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        inputs = _inputs(_body(request))
        traced = _traced(inputs)
        prepared: list[tuple[dict[str, Any], dict[str, str]]] = []
        errors: list[dict[str, Any]] = []
        seen_emails: set[str] = set()
        for item in inputs:
            props = item.get("properties", {}) if isinstance(item, dict) else None
            clean, problems = self.state.validate(object_type, props, creating=True)
            error = _validation_body(problems) if problems else None
            if error is None:
                conflict = self.state.conflict(object_type, clean, None)
                email = clean.get("email") if object_type == "contacts" else None
                if conflict is None and email and email in seen_emails:
                    conflict = f"Duplicate email {email} in batch input"
                if email:
                    seen_emails.add(email)
                if conflict:
                    error = _conflict_body(conflict)
            if error is not None:
                errors.append(_item_error(error, item, traced))
            else:
                prepared.append((item, clean))
        now = self.state.now_ms()
        results = []
        for item, clean in prepared:
            row = self.state.create(object_type, clean, now)
            results.append(
                _traced_result(self.state.render(object_type, row, list(clean)), item, traced)
            )
        return self._batch_answer(results, errors, 201)

    @route("POST", "/crm/v3/objects/{object_type}/batch/update")
    def batch_update(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch update" (POST .../batch/update)."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        inputs = _inputs(_body(request))
        ids = [str(i.get("id", "")) if isinstance(i, dict) else "" for i in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValidationError(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        traced = _traced(inputs)
        prepared: list[tuple[dict[str, Any], Row, dict[str, str]]] = []
        errors: list[dict[str, Any]] = []
        missing: list[str] = []
        for item, record_id in zip(inputs, ids, strict=True):
            row = self.state.get(object_type, record_id)
            if row is None:
                missing.append(record_id)
                continue
            clean, problems = self.state.validate(
                object_type, item.get("properties", {}), creating=False
            )
            error = _validation_body(problems) if problems else None
            conflict = None if error else self.state.conflict(object_type, clean, row.id)
            if conflict:
                error = _conflict_body(conflict)
            if error is not None:
                errors.append(_item_error(error, item, traced, ids=[record_id]))
            else:
                prepared.append((item, row, clean))
        now = self.state.now_ms()
        results = []
        for item, row, clean in prepared:
            self.state.apply(object_type, row, clean, now)
            results.append(
                _traced_result(self.state.render(object_type, row, list(clean)), item, traced)
            )
        return self._batch_answer(results, errors + _missing_errors(object_type, missing), 200)

    @route("POST", "/crm/v3/objects/{object_type}/batch/upsert")
    def batch_upsert(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Create or update a batch of objects by unique
        property values": each input's `id` is the value of its `idProperty` (a property
        with unique values: a contact's email); a match is updated, otherwise created.
        Results carry `new`."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        inputs = _inputs(_body(request))
        traced = _traced(inputs)
        planned: list[tuple[dict[str, Any], Row | None, dict[str, str]]] = []
        errors: list[dict[str, Any]] = []
        keys: set[str] = set()
        for item in inputs:
            id_property = item.get("idProperty") if isinstance(item, dict) else None
            spec = PROPERTIES[object_type].get(id_property or "")
            if spec is None or not spec["hasUniqueValue"]:
                raise ValidationError(
                    f"idProperty must name a property with unique values, not {id_property!r}"
                )
            key = str(item.get("id") or "").strip()
            props = item.get("properties", {})
            row = self.state.lookup(object_type, key, id_property) if key else None
            if row is None:  # a create: the id is the new record's unique value
                props = {**props, id_property: key} if isinstance(props, dict) else props
            clean, problems = self.state.validate(object_type, props, creating=row is None)
            unique = clean.get(id_property, key)
            if unique in keys:
                raise ValidationError(f"Duplicate {id_property} {key} in batch input")
            keys.add(unique)
            conflict = (
                None
                if problems
                else self.state.conflict(object_type, clean, None if row is None else row.id)
            )
            if problems or conflict:
                error = _validation_body(problems) if problems else _conflict_body(conflict or "")
                errors.append(_item_error(error, item, traced))
            else:
                planned.append((item, row, clean))
        now = self.state.now_ms()
        results = []
        for item, row, clean in planned:
            created = row is None
            if row is None:
                row = self.state.create(object_type, clean, now)
            else:
                self.state.apply(object_type, row, clean, now)
            rendered = self.state.render(object_type, row, list(clean))
            results.append({**_traced_result(rendered, item, traced), "new": created})
        return self._batch_answer(results, errors, 200)

    @route("POST", "/crm/v3/objects/{object_type}/batch/archive")
    def batch_archive(self, request: Request) -> Response:
        """Reference: "CRM API | Objects | Batch archive": 204, unknown ids ignored."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        inputs = _inputs(_body(request))
        now = self.state.now_ms()
        for item in inputs:
            row = self.state.get(object_type, str(item.get("id", "")))
            if row is not None:
                self.state.archive(object_type, row, now)
        return Response.empty(204)

    def _batch_answer(
        self, results: list[dict[str, Any]], errors: list[dict[str, Any]], ok_status: int
    ) -> Response:
        stamp = iso_ms(self.state.now_ms())
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


# -- HubSpot's error bodies ------------------------------------------------------------------


def _error(status: int, message: str, category: str, **extra: Any) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return Response.json(status, body)


def _fail(status: int, message: str, category: str, **extra: Any) -> HttpError:
    return HttpError(_error(status, message, category, **extra))


def _validation_body(problems: list[Problem]) -> dict[str, Any]:
    details = [
        {"isValid": False, "message": p.message, "error": p.code, "name": p.field} for p in problems
    ]
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid: " + json.dumps(details),
        "correlationId": str(uuid.uuid4()),
        "errors": [
            {"message": p.message, "code": p.code, "context": {"propertyName": [p.field]}}
            for p in problems
        ],
    }


def _conflict_body(message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "CONFLICT",
        "message": message,
        "correlationId": str(uuid.uuid4()),
    }


def _missing_errors(object_type: str, missing: list[str]) -> list[dict[str, Any]]:
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


# -- batch inputs: multi-status needs every input traced ----------------------------------


def _traced(inputs: list[Any]) -> bool:
    """Whether every input carries an objectWriteTraceId: only then does a bad input fail
    alone (207 multi-status); otherwise it fails the whole batch ("Error handling")."""
    return all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in inputs)


def _item_error(
    error: dict[str, Any], item: Any, traced: bool, ids: list[str] | None = None
) -> dict[str, Any]:
    if not traced:
        raise HttpError(Response.json(409 if error["category"] == "CONFLICT" else 400, error))
    error["context"] = {"objectWriteTraceId": [str(item["objectWriteTraceId"])]}
    if ids is not None:
        error["context"]["ids"] = ids
    return error


def _traced_result(rendered: dict[str, Any], item: Any, traced: bool) -> dict[str, Any]:
    if traced:
        rendered["objectWriteTraceId"] = str(item["objectWriteTraceId"])
    return rendered


# -- request parsing -------------------------------------------------------------------------


def _object_type(request: Request) -> str:
    raw = request.params["object_type"]
    name = TYPE_IDS.get(raw) or SINGULAR.get(raw.lower()) or raw.lower()
    if name not in OBJECTS:
        raise ValidationError(f"Unable to infer object type from: {raw}")
    return name


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValidationError("Invalid input JSON: expected an object")
    return body


def _inputs(body: dict[str, Any]) -> list[Any]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValidationError("inputs must be a non-empty array")
    if len(inputs) > BATCH_MAX:
        raise ValidationError(f"Batch input has {len(inputs)} inputs; the limit is {BATCH_MAX}")
    return inputs


def _int(text: str | None, name: str) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise ValidationError(f"{name} must be an integer, got {text!r}") from None
