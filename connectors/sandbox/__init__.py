"""Local emulators of the vendors' APIs, all served by one process.

    python -m connectors.sandbox --port 8100 [--state FILE] [--seed N]

serves each installed connector's sandbox under its own prefix (/hubspot, /zendesk, /jira)
and an admin API under /_sandbox/. In tests, `connectors.sandbox.server.start_in_thread()`
starts the same server on a free port (tests/sandbox_fixtures.py does it per session).

The plug-in protocol
--------------------
A vendor's emulator is the package `connectors/<kind>/sandbox/` (routes.py for the HTTP
handlers, state.py for its records, query.py for its search language, webhooks.py for the
signing of its deliveries), whose `__init__` exports:

- `SANDBOX`: a subclass of `connectors.sandbox.core.VendorSandbox` with `kind = "<kind>"`.
  It is discovered through connectors.registry.kinds(); a kind whose package does not exist
  yet is skipped, a module that fails to import is an error.
- `contract() -> connectors.sandbox.contract.ContractCase`: the facts the shared contract
  suite needs (valid and invalid records, credentials, webhook secret...).

A sandbox imports nothing of its connector (connector, client, mappers, webhooks): it
signs its webhooks with its own implementation of the vendor's scheme, so the connector's
verification and the sandbox's signing check each other (an import-linter contract in
pyproject.toml keeps it so).

The subclass:

- Declares endpoints by decorating methods with `@route(method, pattern, limits=(...))`.
  `pattern` is the path below the prefix with `{name}` for one path segment; the handler is
  `def handler(self, request: Request) -> Response`, gets path values in `request.params`,
  query values via `request.arg()/args()`, headers (lower-case keys) via `request.header()`
  and the JSON body via `request.json()`. A handler answers with `Response.json(status,
  data, headers)`, or raises `HttpError(response)` from deep inside, or lets a
  `ValidationError` escape (malformed bodies raise it too), which the framework answers with
  the vendor's `refuse(error)`. Links in answers (paging, `self`, `url`) start with
  `request.base_url`, the vendor's root as the request reached the server. Matching tries
  the routes with fewer path parameters first, whatever the declaration order; a vendor's
  `canonical_path(path)` may respell a path before matching (Zendesk's optional ".json").
  Name the vendor's reference page for the endpoint in the handler's docstring.
- `rate_limits = {"name": RateLimit(requests, window_seconds)}`; `default_limits` names the
  ones every endpoint spends, `route(limits=...)` adds per-endpoint ones. Counted per
  identity in a sliding window; on excess the framework answers `rate_limited(name, wait)`.
  On by default, switchable per vendor with PUT /_sandbox/rate-limits.
- `authenticate(request) -> str | Response`: the caller's identity (used as the rate-limit
  key), or the vendor's 401 response. Called before routing, for every request.
- `error(status, message) -> Response`: the vendor's error JSON (for unknown paths, 405 and
  injected faults). `rate_limited(limit, retry_after) -> Response`: the vendor's 429.
  `refuse(ValidationError) -> Response`: the vendor's answer to input it refuses.
- `connection_config(base_url) -> dict`: a connector config with credentials the sandbox
  accepts (GET /_sandbox/connections serves it, for the demo).
- State: `reset()` empties it (schema stays), `seed(seed, counts)` resets and fills it with
  realistic data fully determined by `seed` (use `connectors.sandbox.data.FakeData`),
  `dump() -> JSON` and `load(JSON)` round-trip it for the state file. A vendor whose
  state is a `connectors.sandbox.records.RecordState` (records on the shared RecordTable:
  ids, versions, soft delete, dump and load, the seeding hook) sets `state_class` and gets
  all four, and settings/configure, from the base class.
  Take timestamps from `self.context.now()` (the admin API can move that clock forward).
- Webhooks: after each change call `self.context.emit(event)` (any JSON; skip the work when
  `self.context.webhooks_wanted()` is False). A background thread later calls
  `webhook_deliveries(events, target, now) -> list[Delivery]` once per subscription, where
  the vendor batches the events as the real system does and signs each body with
  `target.secret` for `target.url`; the framework applies drop/duplicate/reorder faults and
  POSTs them. A vendor whose API lists or tests its webhooks reads the subscriptions with
  `self.context.webhook_targets()` and sends one test at once with
  `self.context.deliver_now(delivery)`, which answers the status the target gave.
- Optional `settings() -> dict` and `configure(values)` for vendor switches (e.g. a search
  cap), exposed by GET/PUT /_sandbox/settings.

Threading: the framework holds the vendor's `self.lock` around every handler, seed, reset,
dump, load and configure, so vendor code needs no locking of its own; `webhook_deliveries`
runs outside the lock and must only use the events it is given.

The admin API (JSON in and out)
-------------------------------
POST /_sandbox/seed {"seed": N, "counts": {kind: {type: n}}}; POST /_sandbox/reset;
GET|PUT /_sandbox/faults {kind: {latency_ms, error_429_share, retry_after, error_5xx_share,
timeout_share, timeout_seconds, webhook_drop_share, webhook_duplicate_share,
webhook_reorder_share, webhook_concurrency, queue: [one-shot faults]}} (see app.Faults);
GET|PUT /_sandbox/rate-limits {kind: bool}; GET|PUT /_sandbox/settings {kind: {...}};
POST /_sandbox/webhooks {"vendor", "url", "secret"} (one subscription per target URL, each
with its own secret), GET (the subscriptions and the delivery log), DELETE ?vendor=[&url=];
POST /_sandbox/webhooks/flush (waits until queued deliveries are sent);
GET /_sandbox/connections ({kind: {"base_url", "config"}}: a connector config, credentials
included, for each vendor as reached through this server);
POST /_sandbox/clock {"advance": seconds}; GET /_sandbox/stats[?vendor=] (counts per
endpoint and status, the last requests with timestamps, webhook deliveries);
POST /_sandbox/state (save the state file now).
`connectors.sandbox.client.SandboxAdmin` wraps all of it.
"""

from connectors.sandbox.contract import ContractCase
from connectors.sandbox.core import (
    Context,
    Delivery,
    HttpError,
    Problem,
    RateLimit,
    Request,
    Response,
    ValidationError,
    VendorSandbox,
    WebhookTarget,
    route,
)
from connectors.sandbox.records import RecordState, RecordTable, Row

__all__ = [
    "Context",
    "ContractCase",
    "Delivery",
    "HttpError",
    "Problem",
    "RateLimit",
    "RecordState",
    "RecordTable",
    "Request",
    "Response",
    "Row",
    "ValidationError",
    "VendorSandbox",
    "WebhookTarget",
    "route",
]
