"""The HubSpot CRM v3 calls the connector makes, over connectors.http.

Only transport and HubSpot's answer shapes live here; the connector decides what to call.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from typing import Any

from connectors.errors import RecordError
from connectors.http import HttpClient, TokenBucket

SYSTEM = "HubSpot"
BATCH_MAX = 100
SEARCH_PAGE_MAX = 200
# HubSpot allows 5 search requests per second per token (earlier 4); stay at 4 so that a
# clock skew between us and HubSpot never costs a 429. capacity 1 keeps any 1 s window <= 5.
SEARCH_RATE = 4.0
REFUSED = (400, 409, 422)  # statuses HubSpot uses to refuse a whole batch


class HubSpotClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http
        self.search_bucket = TokenBucket(SEARCH_RATE, 1)

    def account_details(self) -> dict[str, Any]:
        return self.http.json(self.http.get("/account-info/v3/details"))

    def properties(self, object_type: str) -> list[dict[str, Any]]:
        data = self.http.json(self.http.get(f"/crm/v3/properties/{object_type}"))
        return list(data.get("results") or [])

    def search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        self.search_bucket.acquire(self.http.budget_key + ":search", max_wait=self.http.max_elapsed)
        answer = self.http.post(f"/crm/v3/objects/{object_type}/search", json_body=body)
        return self.http.json(answer)

    def list_page(
        self, object_type: str, after: str | None, properties: Sequence[str]
    ) -> dict[str, Any]:
        return self.list_page_dated(object_type, after, properties)[0]

    def list_page_dated(
        self, object_type: str, after: str | None, properties: Sequence[str], limit: int = 100
    ) -> tuple[dict[str, Any], int | None]:
        """A page of GET /crm/v3/objects/{type} and the server's time (its `Date` header,
        in epoch ms; None without one)."""
        params: dict[str, Any] = {"limit": limit, "properties": ",".join(properties)}
        if after:
            params["after"] = after
        answer = self.http.get(f"/crm/v3/objects/{object_type}", params=params)
        return self.http.json(answer), _date_ms(answer.headers.get("Date"))

    def batch(
        self,
        object_type: str,
        action: str,
        inputs: list[dict[str, Any]],
        *,
        properties: Sequence[str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One batch call: (status, body).

        207 multi-status and whole-batch refusals (400/409/422, HubSpot's error JSON) are
        returned for the caller to attribute; 401/403/429/5xx raise as usual. Creates are
        never retried after an ambiguous failure (a retry could create twice).
        """
        if not 0 < len(inputs) <= BATCH_MAX:
            raise ValueError(f"a HubSpot batch holds 1 to {BATCH_MAX} inputs, not {len(inputs)}")
        body: dict[str, Any] = {"inputs": inputs}
        if properties is not None:
            body["properties"] = list(properties)
        answer = self.http.post(
            f"/crm/v3/objects/{object_type}/batch/{action}",
            json_body=body,
            accept=(207, *REFUSED),
            idempotent=action != "create",
        )
        if answer.status_code == 204 or not answer.content:
            return answer.status_code, {}
        return answer.status_code, self.http.json(answer)


def batch_error(
    error: dict[str, Any], *, call: str, status: int, record_id: str | None = None
) -> RecordError:
    """A RecordError from HubSpot's error JSON (one entry of `errors`, or a whole answer)."""
    fields: dict[str, str] = {}
    for detail in error.get("errors") or ():
        if not isinstance(detail, dict):
            continue
        context = detail.get("context") or {}
        for name in context.get("propertyName") or ():
            fields[str(name)] = str(detail.get("message") or detail.get("code") or "invalid")
    category = error.get("category")
    if fields:
        message = "; ".join(f"{name}: {text}" for name, text in fields.items())
    else:
        message = str(error.get("message") or category or "refused")
    if category and category not in message:
        message = f"{category}: {message}"
    return RecordError(
        message, record_id=record_id, fields=fields, system=SYSTEM, call=call, status=status
    )


def _date_ms(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
