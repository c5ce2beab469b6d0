"""What a vendor's sandbox module tells the shared contract suite (tests/connectors/).

The package connectors/<kind>/sandbox defines `def contract() -> ContractCase`. The suite in
tests/connectors/test_contract.py reads nothing else vendor-specific.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON = Any


@dataclass(frozen=True)
class ContractCase:
    """The vendor-specific facts the contract suite needs.

    - `object_type`: the type the suite reads, writes and expects webhooks for.
    - `config(base_url)`: valid config values for a connector pointed at the sandbox
      (`base_url` is "http://127.0.0.1:<port>/<kind>"), with credentials the sandbox accepts.
    - `bad_config(base_url)`: the same with credentials the sandbox rejects with 401.
    - `new_record(n)`: fields of a create the system accepts; distinct for each n.
    - `invalid_record()`: fields the system refuses for that record alone (400/422).
    - `update(n)`: fields for an update whose values the system stores unchanged, so the
      suite can compare them with what `get` returns.
    - `webhook_secret`: the secret registered with POST /_sandbox/webhooks and passed to
      parse_webhook.
    - `stale_after`: seconds after which a signed delivery is refused as a replay, or None
      when the vendor's signature carries no timestamp (the stale test is then skipped).
    - `seed_counts`: records per object type for the seed (small keeps the suite fast; the
      incremental test needs at least 5 of `object_type`).
    - `sandbox_settings`: PUT to /_sandbox/settings for this vendor before each test (e.g. a
      shorter export lag).
    - `write_method`: the HTTP method of the create call (the 422 test queues its fault
      on the first request with this method).
    - `body_signed`: False where the system signs nothing and authenticates deliveries by
      credentials alone (Pipedrive's HTTP Basic): a changed body cannot be told from the
      original, so the tamper test checks only that wrong credentials are refused.
    """

    object_type: str
    config: Callable[[str], dict[str, Any]]
    bad_config: Callable[[str], dict[str, Any]]
    new_record: Callable[[int], dict[str, JSON]]
    invalid_record: Callable[[], dict[str, JSON]]
    update: Callable[[int], dict[str, JSON]]
    webhook_secret: str = "contract-webhook-secret"  # noqa: S105 - a test fixture value
    stale_after: float | None = 300.0
    seed_counts: dict[str, int] = field(default_factory=dict)
    sandbox_settings: dict[str, JSON] = field(default_factory=dict)
    write_method: str = "POST"
    body_signed: bool = True
