"""A stateful emulator of the HubSpot CRM v3 API (contacts, companies, deals, tickets).

It follows HubSpot's public API reference (developers.hubspot.com/docs/api-reference, pages
named per endpoint in routes.py) in what a sync connector depends on:

- Objects as {id, properties, createdAt, updatedAt, archived}, every property value a string
  (numbers "17", booleans "true", multi-select "a;b"), emails lower-cased, unset properties
  null; ids are numeric strings.
- The last-modified property: `lastmodifieddate` on contacts, `hs_lastmodifieddate` on the
  others; writes in one batch share one millisecond, as they do in HubSpot.
- Search: filter groups (OR of ANDs), the documented operators, one sort, `limit` <= 200,
  `after` as an offset, and the 10,000-result cap: paging to `after` >= 10,000 answers 400.
- Batch endpoints (read, create, update, upsert by a unique property, archive): at most 100
  inputs. A validation error fails the whole batch with 400 unless every input carries an
  `objectWriteTraceId`, in which case the answer is 207 multi-status whose `errors` name the
  failing inputs by trace id (HubSpot's "multi-status error handling"). Results come back in
  no guaranteed order (here: reversed on purpose).
- Single-record read (by id or `idProperty`), create, update, archive, merge, and the
  contacts' GDPR delete; lists paged by `after` with `paging.next.link` back to the sandbox.
- Errors as HubSpot's JSON: {status: "error", message, correlationId, category[, errors]}.
- Rate limits of a Free/Starter private app: 100 requests per 10 s burst, 250,000 per day,
  and 5 search requests per second. 429s carry the policy name and a Retry-After.
- Private-app bearer tokens, with scopes: a read-only token gets 403 MISSING_SCOPES on writes.
- Webhooks: creation, propertyChange (one event per changed property), deletion, merge and
  privacyDeletion events, up to 100 per POST, signed with X-HubSpot-Signature-v3 (and the
  legacy v1 signature) by webhooks.py, independently of the connector's verification.

Layout: schema.py (object types, properties, formats), state.py (records on the shared
RecordTable, validation, seed), query.py (search), routes.py (HTTP), webhooks.py (events
and signatures).
"""

from __future__ import annotations

import itertools
from typing import Any

from connectors.hubspot.sandbox.routes import HubSpotSandbox
from connectors.hubspot.sandbox.state import READONLY_TOKEN, SANDBOX_TOKEN, connection_config
from connectors.sandbox.contract import ContractCase

SANDBOX = HubSpotSandbox

__all__ = ["READONLY_TOKEN", "SANDBOX", "SANDBOX_TOKEN", "HubSpotSandbox", "contract"]

_counter = itertools.count(1)


def contract() -> ContractCase:
    """What the shared contract suite needs to exercise the HubSpot connector."""

    def bad_config(base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "access_token": "pat-na1-revoked-token"}

    def new_record(n: int) -> dict[str, Any]:
        run = next(_counter)
        return {
            "email": f"Contract.Person{n}.{run}@Example.org",
            "firstname": f"Person{n}",
            "lastname": "Contract",
            "lifecyclestage": "lead",
        }

    return ContractCase(
        object_type="contacts",
        config=connection_config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=lambda: {"email": "not-an-email", "firstname": "Broken"},
        update=lambda n: {"firstname": f"Renamed{n}", "jobtitle": "Support Lead"},
        webhook_secret="hubspot-app-client-secret",  # noqa: S106 - a sandbox value
        # HubSpot: "reject the request if the timestamp is older than 5 minutes".
        stale_after=300.0,
        seed_counts={"contacts": 12, "companies": 3, "deals": 3, "tickets": 3},
    )
