"""A small client for the /_sandbox/ admin API (for tests and benchmarks).

The app (apps/) never imports it: the demo speaks to the admin API with plain HTTP.
"""

from __future__ import annotations

from typing import Any

import requests


class SandboxAdminError(Exception):
    """The admin API refused a request; the message carries its answer."""


class SandboxAdmin:
    """Drive a running sandbox server at `url` ("http://127.0.0.1:8100")."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.session.request(
            method, f"{self.url}/_sandbox/{path}", json=body, params=params or None,
            timeout=self.timeout,
        )  # fmt: skip
        if response.status_code >= 300:
            raise SandboxAdminError(f"{method} /_sandbox/{path}: {response.status_code} "
                                    f"{response.text[:300]}")  # fmt: skip
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def seed(self, seed: int = 1, counts: dict[str, dict[str, int]] | None = None) -> None:
        """Reset everything, then seed every vendor (`counts`: {kind: {object type: n}})."""
        self._call("POST", "seed", {"seed": seed, "counts": counts or {}})

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def set_faults(self, kind: str, **values: Any) -> dict[str, Any]:
        """Merge fault settings for one vendor (see connectors.sandbox.app.Faults)."""
        return self._call("PUT", "faults", {kind: values})[kind]

    def queue_fault(self, kind: str, **fault: Any) -> None:
        """Append one one-shot fault, e.g. queue_fault("hubspot", status=429, retry_after=1)."""
        queue = self.faults()[kind]["queue"]
        queue.append(fault)
        self.set_faults(kind, queue=queue)

    def set_rate_limits(self, kind: str, enabled: bool) -> None:
        self._call("PUT", "rate-limits", {kind: enabled})

    def settings(self) -> dict[str, Any]:
        return self._call("GET", "settings")

    def configure(self, kind: str, **values: Any) -> dict[str, Any]:
        return self._call("PUT", "settings", {kind: values})[kind]

    def register_webhook(self, kind: str, url: str, secret: str) -> None:
        """Subscribe `url` to `kind`'s webhooks, signed with `secret` (one subscription per
        URL: registering it again replaces the secret; other URLs keep theirs)."""
        self._call("POST", "webhooks", {"vendor": kind, "url": url, "secret": secret})

    def unregister_webhook(self, kind: str, url: str | None = None) -> None:
        """Remove the subscription of `url`, or every subscription of `kind`."""
        self._call("DELETE", "webhooks", vendor=kind, **({"url": url} if url else {}))

    def subscriptions(self) -> list[dict[str, str]]:
        """[{"vendor", "url"}] for every registered webhook subscription."""
        return self._call("GET", "webhooks")["subscriptions"]

    def connections(self) -> dict[str, Any]:
        """Per vendor: {"base_url", "config"}, a connector config the sandbox accepts."""
        return self._call("GET", "connections")

    def flush_webhooks(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until every emitted webhook is delivered; the delivery log and counters."""
        return self._call("POST", "webhooks/flush", {"timeout": timeout})

    def advance_clock(self, seconds: float) -> float:
        return self._call("POST", "clock", {"advance": seconds})["now"]

    def stats(self, vendor: str | None = None) -> dict[str, Any]:
        return self._call("GET", "stats", **({"vendor": vendor} if vendor else {}))

    def changes(self, kind: str, object_type: str, after: int = 0) -> dict[str, Any]:
        """{"version", "rows": [{"id", "version", "deleted", "data"}]}: `kind`'s rows of
        `object_type` written after table version `after` (no vendor call is counted)."""
        return self._call("GET", "changes", vendor=kind, type=object_type, after=after)

    def close(self) -> None:
        self.session.close()
