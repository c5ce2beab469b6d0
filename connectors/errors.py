"""The three kinds of connector error, and one behaviour for each.

- FatalError: bad credentials, missing permission, bad configuration. Never retried; the
  user sees the message and has to change something.
- TransientError: 429, 5xx, timeouts, connection resets. Retried with bounded backoff;
  `retry_after` carries what the system asked for, in seconds, when it said so.
- RecordError: one record was refused (validation). Reported on that record; the rest of the
  batch and the run go on.
- UnexpectedAnswer: the system answered, successfully, with something Concord cannot follow:
  a field missing or of the wrong type (naming it), or paging that never ends (a page cursor
  that repeats, empty pages that always say more follow: EndlessPaging). Neither fatal (the
  credentials are fine) nor worth retrying at once; the run fails saying so, and the next
  scheduled run tries again.

Every error says which system, which call, the HTTP status and a short excerpt of the answer,
and never a credential: messages are built from what the caller passes, and callers pass
the method and path, never headers or query strings with tokens.
"""

from __future__ import annotations

from typing import Any

EXCERPT_CHARS = 300


def excerpt(text: str | bytes | None, limit: int = EXCERPT_CHARS) -> str:
    """A short, single-line excerpt of a response body for error messages."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConnectorError(Exception):
    """Base of every error a connector raises."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        call: str = "",
        status: int | None = None,
        body: str | bytes | None = None,
    ) -> None:
        self.message = message
        self.system = system
        self.call = call
        self.status = status
        self.body_excerpt = excerpt(body)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = " ".join(p for p in (self.system, self.call) if p)
        status = f" answered {self.status}" if self.status is not None else ""
        text = f"{where}{status}: {self.message}" if where or status else self.message
        if self.body_excerpt and self.body_excerpt not in self.message:
            text += f" — {self.body_excerpt}"
        return text

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe description for run logs and API error bodies."""
        return {
            "kind": type(self).__name__,
            "system": self.system,
            "call": self.call,
            "status": self.status,
            "message": self.message,
            "excerpt": self.body_excerpt,
        }


class FatalError(ConnectorError):
    """Retrying will not help: the configuration or the credentials must change."""


class AuthenticationError(FatalError):
    """The system rejected the credentials (401)."""


class PermissionDenied(FatalError):
    """The credentials are valid but lack a permission or scope (403)."""


class ConfigurationError(FatalError):
    """The connection or sync is configured in a way the system cannot serve."""


class NotFound(FatalError):
    """A whole resource (not one record of a batch) does not exist: a wrong site, project…"""


class TransientError(ConnectorError):
    """Worth retrying later: rate limits, server errors, timeouts, dropped connections."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RateLimited(TransientError):
    """429 or the system's equivalent."""


class RecordError(ConnectorError):
    """One record was refused; the others in the batch are unaffected.

    `fields` maps a field name to the system's complaint about it, where the system says.
    """

    def __init__(
        self,
        message: str,
        *,
        record_id: str | None = None,
        fields: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.record_id = record_id
        self.fields = dict(fields or {})
        super().__init__(message, **kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "record_id": self.record_id, "fields": self.fields}


class OutcomeUnknown(RecordError):
    """A write answered as pending whose outcome the system can no longer tell (it forgot
    the job): the write may or may not have happened. Creates are then looked for by the
    values sent (apps/syncs/engine/recovery.py); updates and deletes are written again."""


class UnexpectedAnswer(ConnectorError):
    """A successful answer of a shape the connector cannot read. `field` names what is
    missing or mistyped, as a path into the answer ("results[3].id")."""

    def __init__(self, message: str, *, field: str = "", **kwargs: Any) -> None:
        self.field = field
        super().__init__(message, **kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "field": self.field}


class EndlessPaging(UnexpectedAnswer):
    """A paging loop that would never end: the system gave a page cursor it had given
    before, or kept answering empty pages that say more follow."""


class WebhookVerificationError(Exception):
    """A webhook delivery could not be verified (unsigned, tampered, stale, malformed).

    Raised before anything in the body is parsed or trusted.
    """


class WebhookPayloadError(WebhookVerificationError):
    """The signature matched, but the signed payload cannot be used (JSON nested too deep).

    The sender is genuine, so the answer is 400 with this message rather than the 401 of a
    failed verification; nothing is stored either way.
    """
