"""Runs API: running a sync (run, resync, the held run), runs with counters and progress,
cancelling, and the events of a run."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.scoping import WorkspaceScopedViewSet
from apps.accounts.models import Permission
from apps.core.api import error_responses
from apps.core.api_defaults import CreatedCursorPagination
from apps.core.api_filters import QueryFilter, QueryFilterBackend, openapi_parameters
from apps.runs import selectors, services
from apps.runs.api.serializers import EventSerializer, RunDetailSerializer, RunSerializer
from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.models import Sync


def _queued(run: SyncRun) -> Response:
    return Response(
        RunSerializer(run).data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/api/v1/runs/{run.public_id}/"},
    )


class SyncRunActionsViewSet(WorkspaceScopedViewSet):
    """The actions on a sync that start or decide runs: /syncs/{id}/run/, resync/,
    held-run/approve/, held-run/cancel/."""

    model = Sync
    serializer_class = RunSerializer
    pagination_class = None
    filter_backends: list[Any] = []
    action_permissions = {
        "run": Permission.EDIT,
        "resync": Permission.EDIT,
        "held_run_approve": Permission.EDIT,
        "held_run_cancel": Permission.EDIT,
    }

    def _request(self, *, full: bool) -> Response:
        return _queued(services.run_manual(self.get_object(), full=full))

    @extend_schema(
        summary="Run the sync now",
        description=(
            "Queues a run (202) and answers with it; its id leads to its progress at "
            "/runs/{id}/. A run already queued for the sync absorbs the request (`folded` "
            "counts them). 409 `sync_paused` for a paused sync."
        ),
        request=None,
        responses={202: RunSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, public_id: str | None = None) -> Response:
        return self._request(full=False)

    @extend_schema(
        summary="Run a full resync: read both sides from the start",
        request=None,
        responses={202: RunSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"])
    def resync(self, request: Request, public_id: str | None = None) -> Response:
        return self._request(full=True)

    def _held(self) -> SyncRun:
        return services.held_run_waiting(self.get_object())

    @extend_schema(
        summary="Approve the run the safety limit held: apply its changes now",
        description=(
            "Queues a run (trigger `approval`) that applies the held changes past the safety "
            "limit, and answers 202 with it. 409 `no_held_run` when no held run waits."
        ),
        request=None,
        responses={202: RunSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"], url_path="held-run/approve", url_name="held-run-approve")
    def held_run_approve(self, request: Request, public_id: str | None = None) -> Response:
        run = services.held_run_approve(self._held(), user=request.user)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Cancel the run the safety limit held: nothing is written",
        description=(
            "The sync stays paused, saying who cancelled, until it is enabled again. Answers "
            "with the held run, now decided. 409 `no_held_run` when no held run waits."
        ),
        request=None,
        responses={200: RunSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"], url_path="held-run/cancel", url_name="held-run-cancel")
    def held_run_cancel(self, request: Request, public_id: str | None = None) -> Response:
        held = self._held()
        services.held_run_cancel(held, user=request.user)
        held.refresh_from_db()
        return Response(RunSerializer(held).data)


class EventCursorPagination(CreatedCursorPagination):
    """A run's events in the order they happened."""

    ordering = ("id",)


RUN_FILTERS = {
    "sync": QueryFilter(serializers.UUIDField(), "sync__public_id", "Only this sync's runs."),
    "status": QueryFilter(
        serializers.ChoiceField(choices=SyncRun.Status.values), "status", "Only these runs."
    ),
    "trigger": QueryFilter(
        serializers.ChoiceField(choices=SyncRun.Trigger.values), "trigger", "Only these runs."
    ),
    "created_after": QueryFilter(
        serializers.DateTimeField(), "created_at__gte", "Runs requested at or after this time."
    ),
    "created_before": QueryFilter(
        serializers.DateTimeField(), "created_at__lt", "Runs requested before this time."
    ),
}
EVENT_FILTERS = {
    "action": QueryFilter(
        serializers.ChoiceField(choices=SyncEvent.Action.values), "action", "Only this action."
    ),
    "side": QueryFilter(
        serializers.ChoiceField(choices=["a", "b"]), "side", "Only actions on this side."
    ),
    "record_id": QueryFilter(
        serializers.CharField(max_length=255),
        lambda qs, v: qs.filter(Q(record_id_a=v) | Q(record_id_b=v)),
        "Only events about this record (its id on either side).",
    ),
    "field": QueryFilter(
        serializers.CharField(max_length=200),
        selectors.events_about_field,
        "Only events that changed, conflicted on or resolved this field (its name on either side).",
    ),
}


@extend_schema_view(
    list=extend_schema(summary="List runs, newest first"),
    retrieve=extend_schema(summary="Read a run with its counters and progress"),
)
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    model = SyncRun
    serializer_class = RunSerializer
    pagination_class = CreatedCursorPagination
    # Cursor pagination fixes the order (newest first), so there is no ?ordering.
    filter_backends = [QueryFilterBackend]
    action_permissions = {
        "list": Permission.VIEW,
        "retrieve": Permission.VIEW,
        "events": Permission.VIEW,
        "cancel": Permission.EDIT,
        "retry": Permission.EDIT,
    }

    query_filters = RUN_FILTERS

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("sync", "decided_by")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "retrieve":
            return RunDetailSerializer
        if self.action == "events":
            return EventSerializer
        return RunSerializer

    @extend_schema(
        summary="Cancel a run",
        description=(
            "A queued run is cancelled at once; a running one stops between batches (its "
            "`cancel_requested` is set and its status follows). 409 `run_not_cancellable` "
            "for a run that already finished (a held run is decided on the sync's "
            "held-run/cancel)."
        ),
        request=None,
        responses={200: RunSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def cancel(self, request: Request, public_id: str | None = None) -> Response:
        return Response(RunSerializer(services.run_cancel(self.get_object())).data)

    @extend_schema(
        summary="Retry now the records that failed in a run",
        description=(
            "Queues a run (trigger `manual`) of just the records whose per-record errors this "
            "run recorded, and answers 202 with it. Polling runs retry them anyway; this does "
            "it now. 409 `nothing_to_retry` when the run recorded no such error."
        ),
        request=None,
        responses={202: RunSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def retry(self, request: Request, public_id: str | None = None) -> Response:
        queued = services.run_retry_failed(self.get_object())
        return Response(RunSerializer(queued).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The events of a run: one per record action, in order",
        parameters=openapi_parameters(EVENT_FILTERS),
        responses={200: EventSerializer(many=True)},
    )
    @action(
        detail=True, methods=["get"], pagination_class=EventCursorPagination, filter_backends=[]
    )
    def events(self, request: Request, public_id: str | None = None) -> Response:
        run = self.get_object()
        events = SyncEvent.objects.filter(run=run).select_related("run")
        events = QueryFilterBackend(EVENT_FILTERS).filter_queryset(request, events, self)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(EventSerializer(page, many=True).data)
