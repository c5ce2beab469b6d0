"""Domain errors: what a service refuses, as data.

Services raise these; the API's exception handler and the dashboard's forms turn them into
their own form, and nothing reads a message to learn what happened. Each error has:

- `code`: stable, snake_case, part of the API contract (clients branch on it, tests assert
  it). Codes are listed in docs/api.md.
- `field`: the dotted path of the input it concerns (`name`, `mappings.2.direction`,
  `config.api_token`), or None when it concerns the request as a whole.
- `message`: for people: one sentence, no path in front, no library prefix.
- its class, the kind of refusal: the input is invalid, a rule refuses the action now, the
  the caller's role does not allow it, the thing asked about does not exist, or the external
  system behind it failed.

No Django REST framework here: the API maps a class to an HTTP status (apps/core/api.py).
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base of every refusal a service raises. Raise a subclass."""

    default_code: ClassVar[str] = "refused"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        # Further problems by dotted path, when one input has several (each field of a
        # configuration, say); `field` and `message` are then the first of them.
        self.fields = dict(fields or {})

    def problems(self) -> dict[str, str]:
        """Every problem by dotted path: `field` with `message`, and `fields`."""
        if self.field is None or self.field in self.fields:
            return dict(self.fields)
        return {self.field: self.message, **self.fields}

    def at(self, prefix: str) -> DomainError:
        """The same error with its field path under `prefix` (`mappings.3`, `document`):
        for a service that validates one part of a larger input."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.args = self.args
        copy.field = f"{prefix}.{self.field}" if self.field else prefix
        copy.fields = {f"{prefix}.{path}": problem for path, problem in self.fields.items()}
        return copy

    def __repr__(self) -> str:
        where = f", field={self.field!r}" if self.field else ""
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}{where})"


class Invalid(DomainError):
    """The input cannot be accepted as given: fix `field` and try again."""

    default_code = "validation_error"


class Refused(DomainError):
    """The input is fine, but a rule refuses the action in the current state (a paused
    sync, a conflict already decided, a run still in progress)."""


class Forbidden(DomainError):
    """The caller's role does not allow the action, whatever the state (an admin demoting an
    owner). The API answers 403; the dashboard shows the message."""

    default_code = "permission_denied"


class NotFound(DomainError):
    """What the request names does not exist (any more)."""

    default_code = "not_found"


class UpstreamError(DomainError):
    """The external system behind a connection failed or refused the request.

    `retryable` says whether trying again later may work (a timeout, a 5xx, a rate limit);
    `retry_after` is the wait the system asked for, in seconds, when it said.
    """

    default_code = "connector_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, field=field, fields=fields)
        self.retryable = retryable
        self.retry_after = retry_after
