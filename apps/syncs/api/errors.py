"""Service refusals of the syncs app as API errors: field errors that name the input, and
domain errors with stable codes. Views raise what these functions return.

Codes (stable; see docs/api.md):
- `invalid_mapping` (400): a field mapping cannot work; `fields` names `mappings.<n>` (and
  the key of that mapping, e.g. `mappings.1.direction`) with the reason.
- `validation_error` (400): any other invalid input, by field (`filters.<n>`, `name`, ...).
- `sync_paused` (409): the sync is paused; the message says why.
- `held_run_pending` (409): a run held by the safety limit waits for approval.
- `sync_running` (409): a run is in progress (deleting the sync).
- `conflict_already_resolved` (409): the conflict is not open any more.
- `conflict_not_resolvable` (409): the records are no longer linked, one was deleted, or a
  system refused the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rest_framework import serializers

from apps.core.api import DomainError
from apps.syncs.control import HeldRunPending, SyncBusy
from apps.syncs.engine.values import ConversionError
from apps.syncs.models import Conflict
from apps.syncs.services import SyncError, SyncPaused
from connectors.errors import ConnectorError


class SyncPausedError(DomainError):
    code = "sync_paused"
    status_code = 409


class HeldRunPendingError(DomainError):
    code = "held_run_pending"
    status_code = 409


class SyncRunningError(DomainError):
    code = "sync_running"
    status_code = 409


class InvalidMapping(DomainError):
    code = "invalid_mapping"
    status_code = 400


class ConflictAlreadyResolved(DomainError):
    code = "conflict_already_resolved"
    status_code = 409


class ConflictNotResolvable(DomainError):
    code = "conflict_not_resolvable"
    status_code = 409


def _mapping_index(message: str, mappings: Sequence[Mapping[str, Any]]) -> int | None:
    """Which submitted mapping a mapping_validate message is about: it starts with the
    mapping's label, "<field_a> <-> <field_b>:"."""
    for index, mapping in enumerate(mappings):
        if message.startswith(f"{mapping.get('field_a', '')} <-> {mapping.get('field_b', '')}:"):
            return index
    return None


def _filter_index(message: str, filters: Sequence[Mapping[str, Any]]) -> int | None:
    for index, item in enumerate(filters):
        name = item.get("field", "")
        if f"filter on {name}:" in message or f"has no field {name!r}" in message:
            return index
    return None


def sync_error(
    exc: SyncError,
    *,
    mappings: Sequence[Mapping[str, Any]] = (),
    filters: Sequence[Mapping[str, Any]] = (),
    prefix: str = "",
) -> Exception:
    """The API error for a SyncError raised while saving or acting on a sync.

    A connector failure behind it (field discovery, preview) is returned as is, so the API
    answers it as every upstream error (400 for bad configuration, 502/503 when the system
    fails). `mappings` and `filters` are the submitted ones, to name the offending item;
    `prefix` goes before every field path (`document.` for an import).
    """
    message = str(exc)
    if isinstance(exc.__cause__, ConnectorError):
        return exc.__cause__
    if isinstance(exc, SyncPaused):
        return SyncPausedError(f"the sync is paused: {message}")
    if isinstance(exc, HeldRunPending):
        return HeldRunPendingError(message)
    if isinstance(exc, SyncBusy):
        return SyncRunningError(message)
    index = _mapping_index(message, mappings)
    if index is not None:
        path = f"{prefix}mappings.{index}" + (f".{exc.field}" if exc.field else "")
        return InvalidMapping(message, fields={path: message})
    if exc.field == "mappings" or "written by two mappings" in message:
        return InvalidMapping(message, fields={f"{prefix}mappings": message})
    if exc.field == "filters" or message.startswith("filter on "):
        index = _filter_index(message, filters)
        path = f"{prefix}filters" if index is None else f"{prefix}filters.{index}"
        return serializers.ValidationError({path: [message]})
    if exc.field:
        return serializers.ValidationError({f"{prefix}{exc.field}": [message]})
    return serializers.ValidationError([message])


def conflict_error(exc: SyncError, conflict: Conflict) -> Exception:
    """The API error for a refused conflict resolution."""
    if isinstance(exc.__cause__, ConnectorError):
        return exc.__cause__
    conflict.refresh_from_db()
    if conflict.status != Conflict.Status.OPEN:
        return ConflictAlreadyResolved(f"the conflict is already {conflict.status}")
    if isinstance(exc.__cause__, ConversionError):
        return serializers.ValidationError({"value": [str(exc)]})
    return ConflictNotResolvable(str(exc))


def not_open(conflict: Conflict) -> DomainError | None:
    """The refusal for a conflict that is no longer open, or None."""
    if conflict.status == Conflict.Status.OPEN:
        return None
    return ConflictAlreadyResolved(f"the conflict is already {conflict.status}")
