"""Crash recovery: the creates an interrupted run left pending.

A create is stored as pending, with the values it sends, before the call. A run starts by
looking at the pending ones: the record the create made is found on the target (an unlinked
record holding every value sent) and linked; if there is none, the create never happened and
the source record is planned again; if there are two, a person has to link one. So a crash
before, during or after a create never makes a duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.syncs.engine.apply import Applier, ids_on
from apps.syncs.engine.inflight import holds_sent
from apps.syncs.engine.plan_types import SyncSpec
from apps.syncs.engine.recorder import Action, EngineEvent
from apps.syncs.engine.sides import SideConnector
from apps.syncs.engine.store import LinkStore
from apps.syncs.engine.types import ACTIVE_STATUSES, LinkStatus, Side
from apps.syncs.engine.values import is_empty
from connectors.base import Record


def recover_pending(
    spec: SyncSpec,
    store: LinkStore,
    sides: Mapping[Side, SideConnector],
    applier: Applier,
) -> dict[Side, list[str]] | None:
    """Link what interrupted creates made; return source ids whose create never happened."""
    retry: dict[Side, list[str]] = {Side.A: [], Side.B: []}
    rows = store.pending()
    for row in rows:
        target = Side.A if row.status == LinkStatus.PENDING_CREATE_A else Side.B
        source = target.other
        source_id = row.a_id if source is Side.A else row.b_id
        assert source_id is not None
        found = _find_created(spec, store, sides[target], row.pending_fields or {})
        if len(found) > 1:
            applier.emit(
                EngineEvent(
                    Action.ERROR,
                    target,
                    *ids_on(source, source_id),
                    message=f"an interrupted create of the counterpart of {source_id} left "
                    f"{len(found)} candidates on {target.label} "
                    f"({', '.join(r.id for r in found)}); link one by hand",
                    code="ambiguous",
                )
            )
            continue
        if not found:
            store.drop_pending(row.pk)
            retry[source].append(source_id)
            continue
        sources = sides[source].get([source_id])
        source_record = sources[0] if sources else Record(id=source_id, fields={})
        applier.confirm(target, source_record, row.pk, found[0], None)
    if not any(retry.values()):
        return None
    return retry


def _find_created(
    spec: SyncSpec, store: LinkStore, connector: SideConnector, sent: dict[str, Any]
) -> list[Record]:
    """Unlinked records on the connector's side holding every value a create sent."""
    target = connector.side
    values = {k: v for k, v in sent.items() if not is_empty(v)}
    if not values:
        return []
    preferred = [p.field(target) for p in spec.match_rule if p.field(target) in values]
    search = preferred[0] if preferred else sorted(values)[0]
    found = connector.find(search, [values[search]])

    matching = [r for r in found if holds_sent(spec, target, r, values)]
    linked = {
        link.id(target)
        for link in store.links_for(target, [r.id for r in matching])
        if link.status in ACTIVE_STATUSES
    }
    return [r for r in matching if r.id not in linked]
