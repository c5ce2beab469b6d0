"""The connector contract: what Concord needs from one external system.

A connector knows one system and nothing of Django. Concord talks to it only through the
methods below, with canonical records and JSON cursors, so that the engine works the same
against HubSpot, Jira, a sandbox or the in-memory pair used by tests.

Guarantees every connector gives:

- `changes()` is incremental: its cost grows with the number of changes after the cursor,
  not with the size of the table. Each page carries the cursor to resume *after* it, so the
  caller advances only once that page is stored. A `None` cursor means "from the start".
  Pages may repeat records (at-least-once); they never skip one changed after the cursor.
- Writes return one WriteResult per input, in input order; one refused record never fails
  the rest of the batch (its result holds a RecordError instead). When the caller sets
  `settle_later`, a connector whose system does a write in the background (a bulk job) may
  answer it as pending (`WriteResult.pending`, a JSON handle) instead of waiting for it;
  `settle()` later tells each handle's outcome, for at most `settle_later_max` writes
  pending at once. Connectors that write synchronously ignore the flag and never answer
  pending.
- `parse_webhook()` verifies the system's own signature over the raw bytes with a
  constant-time compare and a replay window before it parses anything, and raises
  WebhookVerificationError for anything it cannot verify.
- Errors are FatalError, TransientError, RecordError or UnexpectedAnswer (see
  connectors.errors). Answers are checked before they are read (connectors.answers): a
  missing or mistyped field raises UnexpectedAnswer naming it, never a KeyError.
- Every paging loop is watched by a `page_guard()`: a repeated cursor or endless empty pages
  raise EndlessPaging, and `interrupt` (set by the caller) is called on every page, so a
  caller can stop a long loop by raising from it.
"""

from __future__ import annotations

import abc
import enum
import hashlib
import hmac
import json
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, SecretStr

from connectors.answers import PageGuard
from connectors.errors import RecordError, WebhookPayloadError, WebhookVerificationError

if typing.TYPE_CHECKING:
    from connectors.netpolicy import AddressPolicy

_T = typing.TypeVar("_T")
JSON = Any  # a value json.dumps accepts: str, int, float, bool, None, list, dict
Cursor = dict[str, JSON]


class FieldType(enum.StrEnum):
    STRING = "string"
    TEXT = "text"  # long or rich text, converted to plain text with paragraphs kept
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"  # ISO 8601 "YYYY-MM-DD"
    DATETIME = "datetime"  # ISO 8601 with offset, UTC preferred
    ENUM = "enum"  # value is one of FieldSpec.options
    MULTI_ENUM = "multi_enum"  # value is a list of FieldSpec.options
    EMAIL = "email"
    USER = "user"  # value is the user's email address where the system exposes one
    REFERENCE = "reference"  # value is the id of another record of this system


@dataclass(frozen=True)
class FieldOption:
    value: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """One field of an object type, as field discovery reports it."""

    name: str  # the key used in Record.fields and in writes
    label: str
    type: FieldType
    writable: bool = True
    required: bool = False  # required on create
    options: tuple[FieldOption, ...] = ()  # for ENUM and MULTI_ENUM
    custom: bool = False
    reference_to: str | None = None  # object type, for REFERENCE

    def option_values(self) -> list[str]:
        return [o.value for o in self.options]


@dataclass(frozen=True)
class ObjectType:
    name: str  # stable key: "contacts", "tickets", "issues"
    label: str
    webhooks: bool = True  # the system can announce changes of this type by webhook
    deletes_in_feed: bool = True  # changes() reports deletions (else only webhooks/reconcile)
    # The type's records carry comments the connector can read and write (None: no comments).
    comments: CommentSupport | None = None
    # The type's records are the system's people (users, agents) with an "email" field that
    # get() returns and find() searches: a reference field pointing to this type names a
    # person, translated to another system by email or the people table.
    people: bool = False


@dataclass(frozen=True)
class CommentSupport:
    """What a system lets Concord do with the comments of one object type.

    Reading and adding are always supported when an ObjectType has a CommentSupport; editing
    and deleting only where the system allows them through its API. `internal` says the
    system has a notion of private/internal notes that Concord can read and set.
    """

    edit: bool = False
    delete: bool = False
    internal: bool = False


@dataclass
class Comment:
    """A comment on a record, in canonical form.

    `body` is canonical Markdown (connectors.richtext): paragraphs, lists, links, inline code
    and fenced code blocks, mentions as "@Name" text. `raw` keeps the body in the system's own
    format (ADF, HTML, Textile) for whoever needs it. `internal` is True for a private note,
    or for a comment whose visibility the system restricts (never copied where it would show
    publicly).
    """

    id: str
    body: str
    author_name: str = ""
    author_email: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    internal: bool = False
    raw: JSON = None


@dataclass(frozen=True)
class NewComment:
    """A comment to write: canonical Markdown `body`, private where `internal` is True."""

    body: str
    internal: bool = False


@dataclass
class Record:
    """A record in canonical form.

    `fields` holds JSON-safe values keyed by FieldSpec.name. `modified_at` is the system's own
    modification time (timezone-aware), which the `newest` conflict policy compares.
    """

    id: str
    fields: dict[str, JSON] = field(default_factory=dict)
    modified_at: datetime | None = None
    version: str | None = None
    deleted: bool = False


@dataclass
class ChangePage:
    """One page of changes. `cursor` resumes after this page; `has_more` says another follows."""

    records: list[Record]
    cursor: Cursor
    has_more: bool


@dataclass
class WriteResult:
    """The outcome for one record of a batched write, in the order of the input."""

    record: Record | None = None  # as the system stored it (normalised values)
    error: RecordError | None = None
    # The system accepted the write and does it later (a background job): a JSON handle to
    # pass to Connector.settle(). Only when the caller set `settle_later`.
    pending: JSON = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def in_flight(self) -> bool:
        return self.pending is not None


@dataclass(frozen=True)
class RecordUpdate:
    id: str
    fields: dict[str, JSON]


@dataclass(frozen=True)
class WebhookRequest:
    """A delivery as it arrived: method, full URL, headers (any case) and the raw body."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


# No system nests its webhook payloads more than a few levels; Python's own parser gives up
# (RecursionError) near 1,000.
MAX_WEBHOOK_JSON_DEPTH = 100


def webhook_json(body: bytes) -> JSON:
    """A verified body's JSON. Raises ValueError when it is not JSON (UnicodeDecodeError
    included), WebhookPayloadError when it nests more than MAX_WEBHOOK_JSON_DEPTH levels."""
    too_deep = f"the body's JSON is nested more than {MAX_WEBHOOK_JSON_DEPTH} levels deep"
    try:
        value = json.loads(body)
    except RecursionError:
        raise WebhookPayloadError(too_deep) from None
    stack: list[tuple[JSON, int]] = [(value, 0)]  # iterative: the check cannot overflow
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_WEBHOOK_JSON_DEPTH:
                raise WebhookPayloadError(too_deep)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def http_base_url(value: str, problem: str) -> str:
    """A connector's base URL from a config form: trimmed, without a trailing slash, and
    http(s) (http for local sandboxes; the address policy judges the host at connect time).
    Raises ValueError(`problem`) otherwise, for the config's field validator to report."""
    value = value.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError(problem)
    return value


def hub_signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`: the signature GitHub (X-Hub-Signature-256)
    and Jira (X-Hub-Signature) send, after the WebSub hub scheme."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hub_signature_verify(request: WebhookRequest, secret: str, header: str) -> None:
    """Check a `sha256=<hex>` signature in `header` over the raw body, in constant time.

    Raises WebhookVerificationError when no secret is configured, the header is missing or
    not `sha256=<hex>`, or the digest does not match.
    """
    if not secret:
        raise WebhookVerificationError("no webhook secret is configured for this connection")
    given = request.header(header)
    if not given:
        raise WebhookVerificationError(f"unsigned delivery: no {header} header")
    algorithm, _, digest = given.strip().partition("=")
    if algorithm.lower() != "sha256" or not digest:
        raise WebhookVerificationError(
            f"{header} must be 'sha256=<hex>', got the {algorithm!r} scheme"
        )
    expected = hub_signature(request.body, secret)[len("sha256=") :]
    if not hmac.compare_digest(expected.encode(), digest.strip().lower().encode()):
        raise WebhookVerificationError("signature mismatch")


@dataclass(frozen=True)
class WebhookEvent:
    """A record the delivery names. `action` is "created", "updated" or "deleted"."""

    object_type: str
    record_id: str
    action: str
    occurred_at: datetime | None = None


@dataclass
class WebhookResult:
    """What a verified delivery says.

    `delivery_id` is the system's unique id of the delivery (for deduplication), if it has
    one. It must come from what the system signs (an event id in the signed body, or a
    digest of the signed content), never from an unsigned header: a captured delivery
    replayed with a fresh header would otherwise be stored and processed as new.

    `reply` is set when the system expects a particular answer (a handshake):
    (status, content type, body).
    """

    events: list[WebhookEvent]
    delivery_id: str | None = None
    reply: tuple[int, str, bytes] | None = None


class ConnectorConfig(BaseModel):
    """Typed configuration of a connection. Subclasses add the system's fields.

    Secret fields are typed `SecretStr`: pydantic redacts them in repr and errors; Concord
    encrypts them at rest and never returns them from the API.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str

    @classmethod
    def secret_fields(cls) -> list[str]:
        return [
            name
            for name, info in cls.model_fields.items()
            if info.annotation is SecretStr or SecretStr in typing.get_args(info.annotation)
        ]


class RateLimiter(Protocol):
    """A request budget, shared by every worker when backed by Redis.

    `acquire` blocks until one request on `key` is allowed, or raises RateLimited (with
    `retry_after`) when the wait would exceed `max_wait` seconds.
    """

    def acquire(self, key: str, *, max_wait: float) -> None: ...


class DiscoveryCache(Protocol):
    """Where a connector keeps what field discovery found beyond its own life, so that each
    run does not ask the system for its fields again (apps.connections keeps it in Django's
    cache, per connection, for a short time). Values are whatever the connector discovered;
    they must pickle. `get` answers None for what it does not hold."""

    def get(self, object_type: str) -> Any: ...

    def set(self, object_type: str, value: Any) -> None: ...

    def forget(self, object_type: str) -> None: ...


class CallObserver(Protocol):
    """Told about every HTTP call a connector makes (for run counters and logs)."""

    def __call__(self, *, system: str, call: str, status: int | None, seconds: float) -> None: ...


class Connector(abc.ABC):
    """One connection to one external system. See the module docstring for the guarantees.

    `rate_limiter` and `on_call` are supplied by the caller (apps.connections), so that the
    limiter can live in Redis and calls can be counted per run without the connector knowing.
    `budget_key` names the budget the limiter spends (one per connection).
    `address_policy` (connectors.netpolicy) is applied to every connection the connector's
    HTTP client opens; apps.connections always passes the operator's. `interrupt`, when the
    caller sets it, is called on every page of every paging loop; it may raise (any
    exception but a ConnectorError) to stop the loop, e.g. when a run is cancelled.
    `discovery_cache`, when given, keeps what field discovery found across connector
    instances (connectors ask through `discovered()`).
    """

    kind: ClassVar[str]  # stable key stored on Connection rows: "hubspot", "jira"
    label: ClassVar[str]  # shown to people: "HubSpot"
    config_class: ClassVar[type[ConnectorConfig]]
    # What the connector can sync, known without credentials (a catalogue shows it before a
    # connection exists). Connectors whose types depend on the account leave it empty.
    object_types_offered: ClassVar[tuple[ObjectType, ...]] = ()
    # True where the system dictates the webhook signing secret (HubSpot signs with the
    # app's client secret), so a person must paste it; otherwise Concord may generate one.
    webhook_secret_from_system: ClassVar[bool] = False
    # True where the system can be asked to send a test delivery (send_test_webhook).
    sends_test_webhooks: ClassVar[bool] = False

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        rate_limiter: RateLimiter | None = None,
        on_call: CallObserver | None = None,
        budget_key: str | None = None,
        address_policy: AddressPolicy | None = None,
        discovery_cache: DiscoveryCache | None = None,
    ) -> None:
        self.config = config
        self.discovery_cache = discovery_cache
        self.rate_limiter = rate_limiter
        self.on_call = on_call
        # Where the connector may connect (connectors.netpolicy); passed to its HttpClient.
        self.address_policy = address_policy
        self.budget_key = budget_key or f"{self.kind}:{config.base_url}"
        self.interrupt: Callable[[], None] | None = None
        # Set by a caller that stores pending writes and settles them later (the engine):
        # writes the system does in the background are then answered as pending, not
        # waited for. Connectors that write synchronously ignore it.
        self.settle_later = False

    # How many writes a caller may leave pending at once (None: no limit): a system that
    # keeps only its latest jobs forgets the oldest of a longer queue, and their outcome
    # with them. A caller that reaches it lets the further writes wait.
    settle_later_max: int | None = None

    def page_guard(self, call: str, *, start: JSON = None, system: str | None = None) -> PageGuard:
        """A guard for one paging loop of `call` ("POST /crm/v3/objects/contacts/search"),
        reporting to this connector's `interrupt` hook."""
        return PageGuard(
            system or self.label, call, start=start, interrupt=lambda: self._interrupt()
        )

    def discovered(self, object_type: str, discover: Callable[[], _T]) -> _T:
        """What `discover()` finds for `object_type` (its fields, as the connector keeps
        them), from the discovery cache when it holds it; stored there otherwise."""
        if self.discovery_cache is None:
            return discover()
        found = self.discovery_cache.get(object_type)
        if found is None:
            found = discover()
            self.discovery_cache.set(object_type, found)
        return found

    def discovery_forget(self, object_type: str) -> None:
        """Drop what discovery found for `object_type` from the cache (a write was refused
        over a field: the system's fields may have changed). The next connector asks again."""
        if self.discovery_cache is not None:
            self.discovery_cache.forget(object_type)

    def _interrupt(self) -> None:
        if self.interrupt is not None:
            self.interrupt()

    @abc.abstractmethod
    def check(self) -> None:
        """Make one cheap authenticated call. Raises FatalError saying why it failed."""

    @abc.abstractmethod
    def object_types(self) -> list[ObjectType]: ...

    @abc.abstractmethod
    def fields(self, object_type: str) -> list[FieldSpec]:
        """Every field of the type, custom fields included."""

    @abc.abstractmethod
    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        """Pages of records changed after `cursor` (None: all records), oldest first."""

    @abc.abstractmethod
    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        """The records with these ids that exist; missing ids are left out, not an error."""

    @abc.abstractmethod
    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        """Records whose `field` equals one of `values` (for matching before a create)."""

    @abc.abstractmethod
    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]: ...

    @abc.abstractmethod
    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]: ...

    @abc.abstractmethod
    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete (or archive) records. A record already gone counts as deleted."""

    def settle(self, object_type: str, handles: Sequence[JSON]) -> list[WriteResult]:
        """The outcome of writes answered as pending, one result per handle, in order: the
        stored record (a deleted Record for a delete), the record's error, or still pending
        (`pending` set to the same handle). OutcomeUnknown where the system no longer knows.
        Only connectors that answer writes as pending implement it."""
        raise NotImplementedError(f"{self.kind} answers no write as pending")

    @abc.abstractmethod
    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        """Verify, then parse. Raises WebhookVerificationError before parsing if unverified."""

    # --- comments (only for object types whose ObjectType.comments is set) ---
    def comments(self, object_type: str, record_id: str) -> list[Comment]:
        """Every comment of the record, oldest first. Raises RecordError when the record
        does not exist (an empty list would read as "every comment was deleted")."""
        raise NotImplementedError(f"{self.kind} has no comments on {object_type}")

    def comment_create(self, object_type: str, record_id: str, comment: NewComment) -> Comment:
        """Add a comment; returns it as the system stored it (its id, its normalised body)."""
        raise NotImplementedError(f"{self.kind} cannot add comments to {object_type}")

    def comment_update(
        self, object_type: str, record_id: str, comment_id: str, comment: NewComment
    ) -> Comment:
        """Replace a comment's body (only where CommentSupport.edit)."""
        raise NotImplementedError(f"{self.kind} cannot edit comments of {object_type}")

    def comment_delete(self, object_type: str, record_id: str, comment_id: str) -> None:
        """Delete a comment (only where CommentSupport.delete); one already gone is deleted."""
        raise NotImplementedError(f"{self.kind} cannot delete comments of {object_type}")

    def list_ids(self, object_type: str) -> Iterator[list[str]]:
        """Pages of every existing id, for systems whose feed omits deletions (reconcile).

        Only connectors whose ObjectType says `deletes_in_feed=False` must implement it.
        """
        raise NotImplementedError(f"{self.kind} does not list ids")

    def send_test_webhook(self, url: str) -> int | None:
        """Ask the system to send a test delivery to the webhook it has set up for `url`.

        Only where `sends_test_webhooks` is True. Returns the HTTP status `url` answered the
        system, or None when the system could not reach it. Raises ConfigurationError when
        the system has no webhook for `url`, and FatalError/TransientError like every call.
        """
        raise NotImplementedError(f"{self.kind} cannot send a test webhook")

    def record_url(
        self, object_type: str, record_id: str, known: Mapping[str, JSON] | None = None
    ) -> str | None:
        """The address of a record in the system's own web interface, for a person to open,
        from the configuration alone (no call is made). `known` holds values of the record
        already at hand (a link's last agreed values), for systems whose address is not the
        id. None where the address cannot be known without guessing."""
        return None

    def people_known(self, values: Sequence[str]) -> set[str] | None:
        """Which of these people, as the system's user fields hold them (an email, a
        login), the system has: a user field can be written with them. None where the
        system cannot tell (the value is written as it is, and a refusal is that record's
        error). Raises like any read."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release the HTTP session or other resources."""
