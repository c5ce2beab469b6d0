"""A stateful emulator of the Pipedrive API: persons and organizations (v2), their field
lists (v2), users (v1), and v2 webhooks.

It follows Pipedrive's API reference (developers.pipedrive.com/docs/api/v1 and v2) and its
OpenAPI descriptions (../shared/vendor-specs/pipedrive/), against which the tests validate
every exchange (tests/connectors/pipedrive_openapi.py), in what a sync connector depends on:

- Paths as below https://api.pipedrive.com: /v1/... and /api/v2/...; authentication by
  API token in the `x-api-token` header (or the legacy `api_token` query parameter); an
  unknown token is 401; a regular user's token may read but gets 403 on writes.
- Persons {id, name, first_name, last_name, owner_id, org_id, add_time, update_time,
  emails, phones, is_deleted, visible_to, label_ids, custom_fields} and organizations
  {..., address}; an unset org_id or address is left out (the description does not let
  them be null). Times RFC 3339 to the second; emails and phones lists of
  {value, primary, label} with at most one primary; custom fields keyed by 40-character
  hashes, every one listed (null when empty).
- Listing with `updated_since` (>=), `updated_until` (<), `sort_by` id/update_time/add_time,
  `ids` (<= 100), `limit` <= 500 and an opaque cursor in `additional_data.next_cursor`
  (null at the end), keyed on the sort, so a record changed mid-read is never skipped.
  Deleted records are left out of listings and answer 404 by id; DELETE marks deleted.
- Search by term (`fields`, `exact_match`), cursor-paged.
- Errors as {success: false, error, error_info, data: null, additional_data: null}; 400 for
  a refused field ("Name must be given."). No batch endpoints: one record per call.
- Burst rate limit: 40 requests per rolling 2 s per token, answered 429 with
  x-ratelimit-limit/-remaining/-reset (no Retry-After).
- Webhooks v2: one POST per event {meta: {action create|change|delete, entity person|
  organization, entity_id, id, timestamp, version "2.0", ...}, data, previous}, with HTTP
  Basic credentials and no signature (webhooks.py).

Layout: schema.py (company, users, tokens, fields), state.py (records on the shared
RecordTable, validation, seed, events), routes.py (HTTP), webhooks.py (deliveries).
"""

from __future__ import annotations

import itertools
from typing import Any

from connectors.pipedrive.sandbox.routes import PipedriveSandbox
from connectors.pipedrive.sandbox.schema import ADMIN_TOKEN, REGULAR_TOKEN, SUPPORT_NOTES
from connectors.sandbox.contract import ContractCase

SANDBOX = PipedriveSandbox

__all__ = ["ADMIN_TOKEN", "REGULAR_TOKEN", "SANDBOX", "PipedriveSandbox", "contract"]

_counter = itertools.count(1)


def contract() -> ContractCase:
    """What the shared contract suite needs to exercise the Pipedrive connector."""

    def config(base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "api_token": ADMIN_TOKEN}

    def bad_config(base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "api_token": "pd-revoked-token"}

    def new_record(n: int) -> dict[str, Any]:
        run = next(_counter)
        return {
            "name": f"Contract Person{n} {run}",
            "email": f"contract.person{n}.{run}@example.org",
        }

    return ContractCase(
        object_type="persons",
        config=config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=lambda: {"name": "", "email": "nameless@example.org"},
        update=lambda n: {"name": f"Renamed Person{n}", SUPPORT_NOTES: f"Called back, round {n}"},
        webhook_secret="pipedrive-basic-auth-password",  # noqa: S106 - a sandbox value
        # No signature, no timestamp to judge a replay by: see connectors/pipedrive/webhooks.
        stale_after=None,
        body_signed=False,
        seed_counts={"organizations": 3, "persons": 12},
        write_method="POST",
    )
