"""The Pipedrive calls the connector makes, over connectors.http.

API v2 (`/api/v2/...`) for persons, organizations and their field lists; v1 (`/v1/...`)
for users, which v2 does not cover. Both hang below one base URL (https://api.pipedrive.com
or the sandbox's), so one HttpClient serves both. Only transport and answer shapes live
here; the connector decides what to call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from connectors.answers import need
from connectors.errors import ConnectorError, RateLimited
from connectors.http import HttpClient, parse_retry_after

SYSTEM = "Pipedrive"
V1 = "/v1"
V2 = "/api/v2"
LIST_LIMIT = 500  # v2 listings: "a maximum value of 500 is allowed"
IDS_MAX = 100  # v2 `ids`: "up to 100 entity ids"
FIELD_LISTS = {"persons": "personFields", "organizations": "organizationFields"}


class PipedriveHttp(HttpClient):
    """HttpClient that also reads Pipedrive's `x-ratelimit-reset` on a 429.

    Pipedrive's 429 names the seconds until the token's window resets in
    `x-ratelimit-reset`; a `Retry-After`, where one is sent, still wins.
    """

    def _map_error(
        self, response: requests.Response, call: str, per_record: bool, record_id: str | None
    ) -> ConnectorError:
        error = super()._map_error(response, call, per_record, record_id)
        if isinstance(error, RateLimited) and error.retry_after is None:
            error.retry_after = parse_retry_after(response.headers.get("x-ratelimit-reset"))
        return error


class PipedriveClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def me(self) -> dict[str, Any]:
        data = self.http.json(self.http.get(f"{V1}/users/me"))
        return need(data, "data", dict, system=SYSTEM, call=f"GET {V1}/users/me")

    def users(self) -> list[dict[str, Any]]:
        data = self.http.json(self.http.get(f"{V1}/users"))
        return need(data, "data", list, system=SYSTEM, call=f"GET {V1}/users", optional=True) or []

    def field_page(self, object_type: str, cursor: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": LIST_LIMIT}
        if cursor:
            params["cursor"] = cursor
        return self.http.json(self.http.get(f"{V2}/{FIELD_LISTS[object_type]}", params=params))

    def list_page(self, object_type: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.http.json(self.http.get(f"{V2}/{object_type}", params=dict(params)))

    def search(self, object_type: str, params: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.http.get(f"{V2}/{object_type}/search", params=dict(params))
        return self.http.json(answer)

    def create(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one record. Never retried after an ambiguous failure (it could create two);
        a refusal (400/422) raises RecordError."""
        answer = self.http.post(
            f"{V2}/{object_type}", json_body=body, per_record=True, idempotent=False
        )
        return self.http.json(answer)

    def update(self, object_type: str, record_id: str, body: dict[str, Any]) -> requests.Response:
        """PATCH one record: the answer as it is for 404 (the record is gone), RecordError
        for a refusal."""
        return self.http.patch(
            f"{V2}/{object_type}/{record_id}",
            json_body=body,
            per_record=True,
            record_id=record_id,
            accept=(404,),
        )

    def delete(self, object_type: str, record_id: str) -> requests.Response:
        """DELETE one record (marked deleted, purged by Pipedrive after 30 days); 404 (gone
        already) is returned, not raised."""
        return self.http.delete(
            f"{V2}/{object_type}/{record_id}", per_record=True, record_id=record_id, accept=(404,)
        )
