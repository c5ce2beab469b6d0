"""What the Jira sandbox's handlers share: Jira's error body, request parsing and paging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.core import HttpError, Request, Response, ValidationError


def errors(status: int, messages: list[str], fields: Mapping[str, str] | None = None) -> Response:
    """Jira's ErrorCollection: {"errorMessages": [...], "errors": {field: message}}."""
    return Response.json(status, {"errorMessages": messages, "errors": dict(fields or {})})


def error_fields(error: ValidationError) -> dict[str, str]:
    """One message per field (the first), as Jira's `errors` holds them."""
    return {name: problems[0].message for name, problems in error.fields().items()}


def bulk_error(index: int | None, error: ValidationError) -> dict[str, Any]:
    """One element of createIssues' `errors` (with failedElementNumber when it names one)."""
    out: dict[str, Any] = {
        "status": 400,
        "elementErrors": {"errorMessages": error.messages(), "errors": error_fields(error)},
    }
    if index is not None:
        out["failedElementNumber"] = index
    return out


def body(request: Request) -> dict[str, Any]:
    """The JSON object in the body. Raises HttpError with Jira's 400 otherwise."""
    try:
        value = request.json()
    except ValidationError as exc:
        raise HttpError(errors(400, [str(exc)])) from None
    if not isinstance(value, dict):
        raise HttpError(errors(400, ["The request body must be a JSON object."]))
    return value


def page_args(request: Request, *, default: int = 50, cap: int = 200) -> tuple[int, int]:
    """startAt and maxResults. Raises HttpError with Jira's 400 for bad values."""
    try:
        start = int(request.arg("startAt", "0") or 0)
        limit = int(request.arg("maxResults", str(default)) or default)
    except ValueError:
        raise HttpError(errors(400, ["startAt and maxResults must be numbers."])) from None
    if limit > cap:
        raise HttpError(errors(400, [f"Parameter 'maxResults' must not exceed the limit '{cap}'"]))
    return max(0, start), max(1, limit)


def page_bean(request: Request, values: list[Any], start: int, limit: int) -> dict[str, Any]:
    """A PageBean: `values` from `start`, `self` and (unless last) `nextPage` on this
    sandbox, with the request's other parameters kept."""
    page = values[start : start + limit]
    last = start + limit >= len(values)

    def link(at: int) -> str:
        query = {k: v for k, v in request.query.items() if k not in ("startAt", "maxResults")}
        query.update(startAt=[str(at)], maxResults=[str(limit)])
        return f"{request.base_url}{request.path}?{urlencode(query, doseq=True)}"

    out: dict[str, Any] = {
        "self": link(start),
        "maxResults": limit,
        "startAt": start,
        "total": len(values),
        "isLast": last,
        "values": page,
    }
    if not last:
        out["nextPage"] = link(start + limit)
    return out
