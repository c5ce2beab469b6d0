"""Writes for connections, and the one place where a Connection row becomes a connector."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from pydantic import ValidationError

from apps.accounts.models import Workspace
from apps.connections.discovery import discovery_cache
from apps.connections.models import Connection, new_webhook_secret
from apps.connections.ratelimit import shared_rate_limiter
from apps.connections.urlpolicy import UrlNotAllowed, address_policy, check_base_url
from apps.core.errors import Invalid, Refused, UpstreamError
from connectors import registry
from connectors.base import (
    CallObserver,
    Connector,
    ConnectorConfig,
    FieldSpec,
    ObjectType,
    WebhookRequest,
    WebhookResult,
)
from connectors.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    FatalError,
    PermissionDenied,
    RateLimited,
    RecordError,
    TransientError,
    WebhookVerificationError,
)
from connectors.errors import NotFound as ConnectorNotFound

logger = logging.getLogger(__name__)
T = TypeVar("T")


def upstream_error(exc: ConnectorError) -> UpstreamError:
    """A connector's failure as the domain error a person sees: the system's own explanation,
    with a code saying what kind of failure it is and whether trying later may help."""
    retry_after = None
    if isinstance(exc, RateLimited):
        code, retryable, retry_after = "upstream_rate_limited", True, exc.retry_after
    elif isinstance(exc, TransientError):
        code, retryable = "upstream_unavailable", True
    elif isinstance(exc, AuthenticationError):
        code, retryable = "connector_authentication_failed", False
    elif isinstance(exc, PermissionDenied):
        code, retryable = "connector_permission_denied", False
    elif isinstance(exc, ConnectorNotFound):
        code, retryable = "connector_not_found", False
    elif isinstance(exc, ConfigurationError):
        code, retryable = "connector_configuration_error", False
    elif isinstance(exc, RecordError):
        return UpstreamError(str(exc), code="connector_record_error", fields=exc.fields)
    elif isinstance(exc, FatalError):
        code, retryable = "connector_error", False
    else:
        code, retryable = "connector_error", True
    return UpstreamError(str(exc), code=code, retryable=retryable, retry_after=retry_after)


def _pydantic_problem(err: Any) -> str:
    """Pydantic's message without its "Value error, " prefix: the validator's own words."""
    if err.get("type") == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])
    return str(err["msg"])


def _config_class(kind: str) -> type[ConnectorConfig]:
    try:
        return registry.get(kind).config_class
    except ConfigurationError as exc:
        raise Invalid(exc.message, field="kind") from None
    except ImportError:
        raise Invalid(f"the connector {kind!r} is not installed", field="kind") from None


def connection_config_problems(kind: str, values: dict[str, Any]) -> dict[str, str]:
    """Problems of config `values` for `kind` by dotted path (`config.api_token`, or
    `config` for the document as a whole); {} when valid. Messages never include a value.

    The base-URL allow policy is not applied here (it resolves host names); saving does.
    Raises Invalid(field="kind") for an unknown or uninstalled kind.
    """
    try:
        _config_class(kind).model_validate(values)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for err in exc.errors(include_input=False):
            path = ".".join(["config", *(str(p) for p in err["loc"])])
            problems.setdefault(path, _pydantic_problem(err))
        return problems
    return {}


def _raise_problems(kind: str, problems: dict[str, str]) -> None:
    if not problems:
        return
    first, message = next(iter(problems.items()))
    if len(problems) > 1:
        label = registry.get(kind).label
        message = f"the {label} configuration has {len(problems)} problems; the first: {message}"
    raise Invalid(message, field=first, fields=problems)


def _validated(kind: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    _raise_problems(kind, connection_config_problems(kind, values))
    config = registry.parse_config(kind, values)
    try:
        base_url = check_base_url(config.base_url)
    except UrlNotAllowed as exc:
        raise Invalid(str(exc), field="config.base_url") from None
    plain, secrets = registry.config_to_storage(config)
    plain["base_url"] = base_url
    return plain, secrets


class _Problems:
    """Runs several checks of one input and raises once with every problem, so a form shows
    them all at once; a single refusal is raised as it was."""

    def __init__(self) -> None:
        self.refusals: list[Invalid] = []

    def check(self, func: Callable[[], T]) -> T | None:
        try:
            return func()
        except Invalid as exc:
            self.refusals.append(exc)
            return None

    def raise_any(self) -> None:
        if len(self.refusals) == 1:
            raise self.refusals[0]
        if self.refusals:
            problems: dict[str, str] = {}
            for exc in self.refusals:
                for path, message in exc.problems().items():
                    problems.setdefault(path, message)
            first, message = next(iter(problems.items()))
            raise Invalid(
                f"{len(problems)} problems; the first: {message}", field=first, fields=problems
            )


WEBHOOK_SECRET_LENGTH = (8, 500)


def _webhook_secret_checked(secret: str | None) -> str | None:
    """A webhook secret to store, or None to keep (or generate) one. Raises Invalid naming
    `webhook_secret` when it is too short or too long to be one."""
    if secret is None:
        return None
    secret = secret.strip()
    if not secret:
        return None
    low, high = WEBHOOK_SECRET_LENGTH
    if not low <= len(secret) <= high:
        raise Invalid(
            f"a webhook signing secret has {low} to {high} characters; this one has {len(secret)}",
            field="webhook_secret",
        )
    return secret


def _name_free(workspace_id: int, name: str, *, exclude: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise Invalid("a connection needs a name", field="name")
    taken = Connection.objects.for_workspace(workspace_id).filter(name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise Invalid(f"a connection named {name!r} already exists", field="name")
    return name


def _save(connection: Connection) -> None:
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:  # a concurrent request took the name between check and save
        raise Invalid(
            f"a connection named {connection.name!r} already exists", field="name"
        ) from None


def connection_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str,
    values: dict[str, Any],
    webhook_secret: str | None = None,
) -> Connection:
    """Validate the config for its connector kind and store it, secrets encrypted.

    Raises Invalid naming the field: `name` (empty or taken), `kind` (unknown),
    `webhook_secret` (not 8 to 500 characters), or `config.<field>` (every problem of the
    configuration in `fields`; the base URL's allow policy as `config.base_url`). Problems
    of several of these come in one Invalid, each in `fields`.

    Without `webhook_secret`, one is generated, except where the system dictates it
    (HubSpot's app client secret): there it stays empty until someone sets it.
    """
    _config_class(kind)
    problems = _Problems()
    name = problems.check(lambda: _name_free(workspace.pk, name))
    webhook_secret = problems.check(lambda: _webhook_secret_checked(webhook_secret))
    validated = problems.check(lambda: _validated(kind, values))
    problems.raise_any()  # so name and validated are set from here on
    plain, secrets = cast(tuple[dict[str, Any], dict[str, str]], validated)
    connection = Connection(
        workspace=workspace, name=cast(str, name), kind=kind, config=plain, secrets=secrets
    )
    if webhook_secret:
        connection.webhook_secret = webhook_secret
    elif registry.get(kind).webhook_secret_from_system:
        # A generated secret could never match what the system signs with: leave it empty,
        # so every delivery is refused with a reason that says none is configured.
        connection.webhook_secret = ""
    _save(connection)
    return connection


def connection_update(
    connection: Connection,
    *,
    name: str | None = None,
    values: dict[str, Any] | None = None,
    webhook_secret: str | None = None,
    replace: bool = False,
) -> Connection:
    """Change the name and/or the configuration; raises Invalid as connection_create does.

    Secret fields left out (or empty) keep their stored value, so a secret can be rotated
    without retyping the others. With `replace` (a PUT), a non-secret field left out goes
    back to its default, and one without a default is a problem of its own.
    """
    problems = _Problems()
    if name is not None and name.strip() != connection.name:
        new_name = problems.check(
            lambda: _name_free(connection.workspace_id, name, exclude=connection.pk)
        )
    else:
        new_name = None
    webhook_secret = problems.check(lambda: _webhook_secret_checked(webhook_secret))
    validated = None
    if values is not None:
        replacing = values
        if replace:
            replacing = problems.check(lambda: _replacing(connection.kind, values))
        if replacing is not None:
            merged = _merged(connection, replacing)
            validated = problems.check(lambda: _validated(connection.kind, merged))
    problems.raise_any()
    if new_name is not None:
        connection.name = new_name
    if validated is not None:
        connection.config, connection.secrets = validated
        connection.status = Connection.Status.UNKNOWN
    if webhook_secret:
        connection.webhook_secret = webhook_secret
    _save(connection)
    return connection


def _merged(connection: Connection, values: dict[str, Any]) -> dict[str, Any]:
    """The stored configuration with `values` over it; empty values keep what is stored."""
    merged = {**connection.config, **(connection.secrets or {})}
    merged.update({k: v for k, v in values.items() if v not in (None, "")})
    return merged


def _replacing(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """A replacement configuration: non-secret fields left out take their defaults."""
    config_class = _config_class(kind)
    secret = set(config_class.secret_fields())
    filled = dict(values)
    missing: dict[str, str] = {}
    for name, info in config_class.model_fields.items():
        if name in values or name in secret:
            continue
        if info.is_required():
            missing[f"config.{name}"] = "this field is required (a replacement names them all)"
        else:
            filled[name] = info.get_default(call_default_factory=True)
    _raise_problems(kind, missing)
    return filled


def connector_for(connection: Connection, *, on_call: CallObserver | None = None) -> Connector:
    """Build the connector for a connection. The only place a row becomes a connector.

    The connector connects only where the base-URL policy allows, checked again at every
    connection it opens: the host may resolve elsewhere now than when the URL was saved.
    """
    values = {**connection.config, **(connection.secrets or {})}
    return registry.build(
        connection.kind,
        values,
        address_policy=address_policy(),
        rate_limiter=shared_rate_limiter(),
        on_call=on_call,
        budget_key=f"connection:{connection.pk}",
        discovery_cache=discovery_cache(connection),
    )


def connection_record_success(connection: Connection) -> None:
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.OK,
        last_checked_at=now,
        last_success_at=now,
        last_error="",
        consecutive_failures=0,
    )


def connection_record_failure(connection: Connection, error: str) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.FAILING,
        last_checked_at=timezone.now(),
        last_error=error[:2000],
        consecutive_failures=F("consecutive_failures") + 1,
    )


def connection_check(connection: Connection) -> tuple[bool, str]:
    """Run the connector's check() and record the outcome on the row. Returns (ok, message)."""
    try:
        connector = connector_for(connection)
        try:
            connector.check()
        finally:
            connector.close()
    except ConnectorError as exc:
        connection_record_failure(connection, str(exc))
        return False, str(exc)
    connection_record_success(connection)
    return True, "The credentials work."


def connection_check_values(
    kind: str, values: dict[str, Any], *, connection: Connection | None = None
) -> tuple[bool, str]:
    """Try a configuration before it is saved: validate it as connection_create (or, with
    `connection`, as connection_update: empty values keep the stored ones, secrets
    included) would, then run the connector's check(). Nothing is stored, not even health.

    Returns (ok, message): the connector's own explanation when the system refuses (a wrong
    token, a wrong site). Raises Invalid naming `kind` or `config.<field>` for a
    configuration that cannot be tried, the base URL's allow policy included.
    """
    if connection is not None:
        kind, values = connection.kind, _merged(connection, values)
    plain, secrets = _validated(kind, values)
    try:
        connector = registry.build(
            kind,
            {**plain, **secrets},
            address_policy=address_policy(),
            rate_limiter=shared_rate_limiter(),
            budget_key=f"connection:{connection.pk}" if connection else f"check:{kind}",
        )
        try:
            connector.check()
        finally:
            connector.close()
    except ConnectorError as exc:
        return False, str(exc)
    return True, "The credentials work."


@dataclass(frozen=True)
class WebhookTestSent:
    """A test delivery the system was asked to send."""

    at: datetime  # when it was asked: a delivery received since then is the test's
    answered: int | None  # the status Concord's endpoint gave the system, where it says


def connection_test_event_send(connection: Connection) -> WebhookTestSent:
    """Ask the connection's system to send a test delivery to its webhook URL.

    Raises Refused (`test_event_unsupported`) for a system that offers no such thing (the
    page says what to do instead), UpstreamError when the system refuses or fails (no
    webhook set up for the URL is its `connector_configuration_error`).
    """
    cls = registry.get(connection.kind)
    if not cls.sends_test_webhooks:
        raise Refused(
            f"{cls.label} cannot be asked for a test delivery; change a record there and "
            "watch for the delivery instead",
            code="test_event_unsupported",
        )
    at = timezone.now()
    connector = connector_for(connection)
    try:
        answered = connector.send_test_webhook(connection_webhook_url(connection))
    except ConnectorError as exc:
        raise upstream_error(exc) from exc
    finally:
        connector.close()
    return WebhookTestSent(at=at, answered=answered)


def connection_webhook_secret_rotate(connection: Connection) -> str:
    """Replace the webhook signing secret with a newly generated one and return it (to be
    shown once). Deliveries signed with the old secret are refused from now on."""
    connection.webhook_secret = new_webhook_secret()
    connection.save(update_fields=["webhook_secret", "updated_at"])
    return connection.webhook_secret


def connection_delete(connection: Connection) -> None:
    """Delete the connection and its stored credentials.

    Raises Refused (`connection_in_use`) naming the syncs that use it: they reference their
    connections with PROTECT, and deleting a sync is a decision of its own.
    """
    try:
        with transaction.atomic():
            connection.delete()
    except ProtectedError as exc:
        names = sorted({str(obj) for obj in exc.protected_objects})
        raise Refused(
            f"the connection is used by these syncs: {', '.join(names)}; delete them first",
            code="connection_in_use",
        ) from None


def connection_webhook_url(connection: Connection, *, public_url: str | None = None) -> str:
    """The URL the external system must deliver this connection's webhooks to, on
    `public_url` (default: CONCORD_PUBLIC_URL)."""
    base = public_url or settings.CONCORD_PUBLIC_URL
    return f"{base.rstrip('/')}/hooks/{connection.public_id}/"


def connection_object_types(connection: Connection) -> list[ObjectType]:
    """The object types the connected system offers. Raises UpstreamError when the system
    cannot be read."""
    connector = connector_for(connection)
    try:
        return connector.object_types()
    except ConnectorError as exc:
        raise upstream_error(exc) from exc
    finally:
        connector.close()


def connection_fields(
    connection: Connection, object_type: str, *, fresh: bool = False
) -> list[FieldSpec]:
    """Field discovery for one object type, from the discovery cache unless `fresh` (a
    person asked to read the fields again). Raises UpstreamError when the system cannot be
    read (an unknown object type is the connector's `connector_configuration_error` or
    `connector_not_found`)."""
    connector = connector_for(connection)
    if fresh:
        connector.discovery_forget(object_type)
    try:
        return connector.fields(object_type)
    except ConnectorError as exc:
        raise upstream_error(exc) from exc
    finally:
        connector.close()


def connection_webhook_parse(connection: Connection, request: WebhookRequest) -> WebhookResult:
    """Let the connection's connector verify a webhook delivery and name its records.

    Needs the configuration, not the network: no HTTP session is opened. Raises
    WebhookVerificationError for anything unverifiable, a configuration that no longer
    parses included.
    """
    try:
        config = registry.parse_config(
            connection.kind, {**connection.config, **(connection.secrets or {})}
        )
        connector = registry.get(connection.kind)(config)
    except ConnectorError as exc:
        raise WebhookVerificationError(f"the connection cannot verify webhooks: {exc}") from exc
    return connector.parse_webhook(request, connection.webhook_secret)
