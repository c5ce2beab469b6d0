"""What the Zendesk sandbox's handlers share: records and jobs as JSON, Zendesk's error body,
request parsing, paging, and `for_types` to declare one handler for tickets, users and
organizations alike."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.core import Handler, HttpError, Request, Response, route
from connectors.sandbox.records import Row
from connectors.zendesk.sandbox.schema import MAX_MANY, SEARCH_MAX_RESULTS, TYPES

PAGE_MAX = 100


def for_types(
    method: str, pattern: str, types: Iterable[str] = TYPES, *, limits: tuple[str, ...] = ()
) -> Callable[[Handler], Handler]:
    """Route `method pattern` for each object type, "<type>" in the pattern standing for
    tickets, users, organizations; the handler finds the type in `request.params["type"]`."""

    def mark(func: Handler) -> Handler:
        for object_type in types:
            path = pattern.replace("<type>", object_type)
            func = route(method, path, limits=limits, params={"type": object_type})(func)
        return func

    return mark


def public(row: Row, base: str) -> dict[str, Any]:
    """A record's JSON as Zendesk answers it, its `url` on this sandbox."""
    out = {k: v for k, v in row.data.items() if not k.startswith("_")}
    out["id"] = row.id
    out["url"] = f"{base}/api/v2/{row.type}/{row.id}.json"
    return out


def job_json(job: Mapping[str, Any], base: str) -> dict[str, Any]:
    out = {k: v for k, v in job.items() if not k.startswith("_")}
    out["url"] = f"{base}/api/v2/job_statuses/{job['id']}.json"
    return out


def zendesk_error(status: int, error: str, description: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"error": error, "description": description}
    if details is not None:
        body["details"] = details
    return Response.json(status, body)


def not_found() -> Response:
    return zendesk_error(404, "RecordNotFound", "Not found")


def ids(request: Request, name: str = "ids") -> list[int]:
    """A comma-separated list of up to 100 ids. Raises HttpError with Zendesk's 400."""
    try:
        found = [int(i) for i in request.args(name)]
    except ValueError:
        raise HttpError(zendesk_error(400, "InvalidValue", f"{name} must be numbers")) from None
    return _bounded(found, name)


def names(request: Request, name: str) -> list[str]:
    """A comma-separated list of up to 100 values (external ids)."""
    return _bounded(request.args(name), name)


def _bounded(values: list[Any], name: str) -> list[Any]:
    if not values:
        raise HttpError(zendesk_error(400, "InvalidValue", f"{name} is required"))
    if len(values) > MAX_MANY:
        raise HttpError(
            zendesk_error(400, "InvalidValue", f"{name}: at most {MAX_MANY} values are allowed")
        )
    return values


def body_object(request: Request, root: str) -> Any:
    """The object under `root` in the JSON body ({"ticket": {...}})."""
    body = request.json()
    item = body.get(root) if isinstance(body, dict) else None
    if not isinstance(item, dict):
        raise HttpError(zendesk_error(400, "InvalidValue", f"{root} must be an object"))
    return item


def body_list(request: Request, root: str) -> list[Any]:
    """The list under `root` in the JSON body, at most 100 items."""
    body = request.json()
    items = body.get(root) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise HttpError(zendesk_error(400, "InvalidValue", f"{root} must be a list"))
    if len(items) > MAX_MANY:
        raise HttpError(
            zendesk_error(400, "TooManyValues", f"{root}: at most {MAX_MANY} records per request")
        )
    return items


def encode_cursor(ts: float, seq: int) -> str:
    """An opaque cursor as Zendesk's look: base64 of a time and a position."""
    return base64.urlsafe_b64encode(f"{ts:.3f}||{seq}|".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position in a cursor. Raises HttpError with Zendesk's 400 for a bad one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        return int(text.split("||", 1)[1].rstrip("|"))
    except (binascii.Error, UnicodeDecodeError, ValueError, IndexError):
        raise HttpError(
            zendesk_error(400, "InvalidPaginationParameter", "cursor is invalid")
        ) from None


def offset_page(request: Request, items: list[Any], root: str, *, capped: bool = False) -> Response:
    """Offset pagination (`page`, `per_page` up to 100) with `next_page` and
    `previous_page` on this sandbox; `capped`: search's limit of 1,000 results."""
    raw_page, raw_per = request.arg("page", "1") or "1", request.arg("per_page", "100") or "100"
    if not raw_page.isdigit() or not raw_per.isdigit() or not 1 <= int(raw_per) <= PAGE_MAX:
        return zendesk_error(400, "InvalidPaginationParameter", "page and per_page (1-100)")
    page, per_page = max(1, int(raw_page)), int(raw_per)
    if capped and page * per_page > SEARCH_MAX_RESULTS:
        return zendesk_error(
            422,
            "QueryResponseError",
            "Requested response size was greater than Search Response Limits",
        )
    chunk = items[(page - 1) * per_page : page * per_page]
    query = {k: v[0] for k, v in request.query.items()}

    def link(number: int) -> str:
        return f"{request.base_url}{request.path}?{urlencode({**query, 'page': number})}"

    return Response.json(
        200,
        {
            root: chunk,
            "next_page": link(page + 1) if page * per_page < len(items) else None,
            "previous_page": link(page - 1) if page > 1 else None,
            "count": len(items),
        },
    )
