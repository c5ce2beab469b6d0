"""Syncs API: the sync as one document (settings, mappings, filters), switching it on and
off, previewing it (a job: requested here, read at /previews/{id}/), exporting and importing
it; conflicts and their resolution.

Running a sync (run, resync, held runs) is in apps/runs/api: runs depend on syncs, not the
other way round.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import filters, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.scoping import WorkspaceScopedViewSet
from apps.accounts.models import Permission
from apps.core.api import UPSTREAM_ERRORS, error_responses
from apps.core.api_filters import QueryFilter, QueryFilterBackend
from apps.core.errors import DomainError
from apps.syncs import conflicts, people, previews, services, transfer
from apps.syncs.api.serializers import (
    ConflictDecidedSerializer,
    ConflictResolveManySerializer,
    ConflictResolveSerializer,
    ConflictSerializer,
    PersonMappingInputSerializer,
    PersonMappingSerializer,
    PreviewJobSerializer,
    PreviewRequestSerializer,
    ResolveManyResultSerializer,
    SyncDocumentSerializer,
    SyncImportSerializer,
    SyncSerializer,
    SyncWriteSerializer,
)
from apps.syncs.models import Conflict, PersonMapping, Sync, SyncPreview


@extend_schema_view(
    list=extend_schema(summary="List the workspace's syncs"),
    retrieve=extend_schema(summary="Read a sync with its mappings and filters"),
)
class SyncViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    model = Sync
    serializer_class = SyncSerializer
    action_permissions = {
        "list": Permission.VIEW,
        "retrieve": Permission.VIEW,
        "export": Permission.VIEW,
        "create": Permission.EDIT,
        "update": Permission.EDIT,
        "partial_update": Permission.EDIT,
        "destroy": Permission.EDIT,
        "enable": Permission.EDIT,
        "disable": Permission.EDIT,
        "preview": Permission.EDIT,
        "import_document": Permission.EDIT,
    }
    filter_backends = [QueryFilterBackend, filters.OrderingFilter]
    query_filters = {
        "enabled": QueryFilter(
            serializers.BooleanField(), "enabled", "Only syncs on (true) or off (false)."
        ),
        "connection": QueryFilter(
            serializers.UUIDField(),
            lambda qs, v: qs.filter(Q(connection_a__public_id=v) | Q(connection_b__public_id=v)),
            "Only syncs with this connection on either side.",
        ),
    }
    ordering_fields = ["name", "created_at", "last_run_at"]
    ordering = ["name"]

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("connection_a", "connection_b").prefetch_related(
            "mappings", "filters"
        )

    def _answer(self, sync: Sync, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=sync.pk)  # with its mappings, filters and state
        return Response(SyncSerializer(fresh).data, status=status_code)

    def _write_serializer(self, **kwargs: Any) -> SyncWriteSerializer:
        return SyncWriteSerializer(context={"workspace": self.request.workspace}, **kwargs)

    @extend_schema(
        summary="Create a sync with its mappings and filters",
        description=(
            "The whole definition is validated against both systems' field discovery; the "
            "sync is saved complete or not at all. A mapping that cannot work answers 400 "
            "`invalid_mapping` naming `mappings.<n>` and why."
        ),
        request=SyncWriteSerializer,
        responses={201: SyncSerializer, **error_responses(*UPSTREAM_ERRORS)},
    )
    def create(self, request: Request) -> Response:
        data = self._write_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        sync = services.sync_create(
            workspace=request.workspace,
            connection_a=values["connection_a"],
            object_type_a=values["object_type_a"],
            connection_b=values["connection_b"],
            object_type_b=values["object_type_b"],
            **data.settings(),
        )
        return self._answer(sync, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Replace a sync's definition (settings left out go back to their defaults)",
        description=(
            "Mappings are kept by field pair: a pair that stays keeps its sync state and open "
            "conflicts; a new pair is added (the next run reads everything); a pair left out "
            "is removed with its conflicts. The connections and object types cannot change."
        ),
        request=SyncWriteSerializer,
        responses={200: SyncSerializer, **error_responses(*UPSTREAM_ERRORS)},
    )
    def update(self, request: Request, public_id: str | None = None) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change part of a sync's definition (what is left out is kept)",
        request=SyncWriteSerializer,
        responses={200: SyncSerializer, **error_responses(*UPSTREAM_ERRORS)},
    )
    def partial_update(self, request: Request, public_id: str | None = None) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        sync = self.get_object()
        data = self._write_serializer(instance=sync, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        transfer.sync_document_update(sync, **data.settings())
        return self._answer(sync)

    @extend_schema(
        summary="Delete a sync, its links, conflicts and run history",
        description="The records in both systems stay. Refused while a run is in progress.",
        responses={204: None, **error_responses(409)},
    )
    def destroy(self, request: Request, public_id: str | None = None) -> Response:
        services.sync_delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Put the sync on its schedule (resumes a paused sync)",
        request=None,
        responses={200: SyncSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def enable(self, request: Request, public_id: str | None = None) -> Response:
        return self._answer(services.sync_enable(self.get_object()))

    @extend_schema(
        summary="Take the sync off its schedule", request=None, responses={200: SyncSerializer}
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def disable(self, request: Request, public_id: str | None = None) -> Response:
        return self._answer(services.sync_disable(self.get_object()))

    @extend_schema(
        summary="Ask what the next run would do, without writing anything (a dry run)",
        description=(
            "Starts a preview job and answers at once, 202, with it (and `Location`): poll its "
            "`url` (GET /previews/{id}/) until `status` is `succeeded` or `failed`; "
            "`progress` counts the records read so far. The job reads both systems as a run "
            "would and plans it: counts of records matched, created, updated and deleted per "
            "side, conflicts, errors, with samples (`result`). Nothing is written to either "
            "system, nor to the sync's state. A system that cannot be read fails the job "
            "with the system's explanation in `error` and its code in `error_code`."
        ),
        request=PreviewRequestSerializer,
        responses={202: PreviewJobSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def preview(self, request: Request, public_id: str | None = None) -> Response:
        sync = self.get_object()
        options = PreviewRequestSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        job = previews.preview_request(sync, **options.validated_data, user=request.user)
        body = PreviewJobSerializer(job, context={"request": request}).data
        return Response(
            body,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/previews/{job.public_id}/"},
        )

    @extend_schema(
        summary="The sync's definition as a document (connections by name)",
        responses={200: SyncDocumentSerializer},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def export(self, request: Request, public_id: str | None = None) -> Response:
        return Response(SyncDocumentSerializer(transfer.sync_export(self.get_object())).data)

    @extend_schema(
        summary="Create a sync from an exported document (created disabled)",
        description=(
            "Connections are looked up by name in this workspace; a name it lacks is a 400 "
            "naming `document.connection_a` or `document.connection_b`."
        ),
        request=SyncImportSerializer,
        responses={201: SyncSerializer, **error_responses(*UPSTREAM_ERRORS)},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        pagination_class=None,
        filter_backends=[],
    )
    def import_document(self, request: Request) -> Response:
        data = SyncImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        document = data.validated_data["document"]
        name = data.validated_data.get("name")
        try:
            sync = transfer.sync_import(request.workspace, document, name=name)
        except DomainError as exc:
            raise exc.at("document") from None  # the document's fields, in this request
        return self._answer(sync, status.HTTP_201_CREATED)


# --- previews -------------------------------------------------------------------------------
@extend_schema_view(
    retrieve=extend_schema(
        summary="Read a preview job: its status, progress and, once done, the preview",
        description=(
            "Poll it after `POST /syncs/{id}/preview/` until `status` is `succeeded` (then "
            "`result` holds the counts and samples) or `failed` (then `error` says why). "
            "Finished previews are deleted a day after they were asked for."
        ),
    ),
)
class PreviewViewSet(mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    model = SyncPreview
    serializer_class = PreviewJobSerializer
    action_permissions = {"retrieve": Permission.VIEW}

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("sync", "requested_by")


# --- conflicts ------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="List conflicts (newest first)"),
    retrieve=extend_schema(
        summary="Read a conflict: the base, the values on A and B, the records on both sides"
    ),
)
class ConflictViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    model = Conflict
    serializer_class = ConflictSerializer
    action_permissions = {
        "list": Permission.VIEW,
        "retrieve": Permission.VIEW,
        "resolve": Permission.EDIT,
        "resolve_many": Permission.EDIT,
    }
    filter_backends = [QueryFilterBackend, filters.OrderingFilter]
    query_filters = {
        "sync": QueryFilter(serializers.UUIDField(), "sync__public_id", "Only this sync's."),
        "status": QueryFilter(
            serializers.ChoiceField(choices=Conflict.Status.values), "status", "Only these."
        ),
    }
    ordering_fields = ["detected_at", "resolved_at"]
    ordering = ["-detected_at", "-id"]

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("sync", "mapping", "link", "resolved_by")

    def _decided(self, conflict: Conflict, run: Any) -> Conflict:
        fresh = self.get_queryset().get(pk=conflict.pk)
        fresh.run = run
        return fresh

    @extend_schema(
        summary="Decide a conflict: A's value, B's value or a custom value",
        description=(
            "Records the decision and answers at once (202) with the conflict, now "
            "`decided`, and the run that applies it: that run writes the value to whichever "
            "side lacks it, under the sync's lease like every write, then the conflict is "
            "`resolved`; if a system refuses the value (or a side changed again after the "
            "decision), the conflict is `open` again with the reason in `error`. 409 "
            "`conflict_already_resolved` when it is not open; 409 `conflict_not_resolvable` "
            "when the records are no longer linked; 400 naming `value` when it cannot be "
            "converted."
        ),
        request=ConflictResolveSerializer,
        responses={202: ConflictDecidedSerializer, **error_responses(409)},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def resolve(self, request: Request, public_id: str | None = None) -> Response:
        conflict = self.get_object()
        data = ConflictResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = conflicts.conflict_decide(
            conflict,
            resolution=data.validated_data["resolution"],
            custom_value=data.validated_data.get("value"),
            user=request.user,
        )
        decided = self._decided(conflict, run)
        return Response(ConflictDecidedSerializer(decided).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Decide many conflicts the same way",
        operation_id="v1_conflicts_resolve_many",
        description=(
            "Each conflict is checked on its own: the answer says, per id and in the order "
            "given, whether it was decided, or the error code and message it would have had "
            "alone (`not_found` for an id outside the workspace). One run per sync applies "
            "all its decisions."
        ),
        request=ConflictResolveManySerializer,
        responses={202: ResolveManyResultSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="resolve",
        url_name="resolve-many",
        pagination_class=None,
        filter_backends=[],
    )
    def resolve_many(self, request: Request) -> Response:
        data = ConflictResolveManySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(data.validated_data["conflicts"]))
        found = {c.public_id: c for c in self.get_queryset().filter(public_id__in=ids)}
        outcome = conflicts.conflicts_decide(
            [found[i] for i in ids if i in found],
            resolution=data.validated_data["resolution"],
            custom_value=data.validated_data.get("value"),
            user=request.user,
        )
        results = []
        for public_id in ids:
            conflict = found.get(public_id)
            if conflict is None:
                error = {"code": "not_found", "message": "no such conflict in your workspace"}
                results.append({"id": public_id, "ok": False, "conflict": None, "error": error})
                continue
            refusal = outcome.refused.get(conflict.pk)
            answer = self._decided(conflict, None if refusal else outcome.run_for(conflict))
            error = None if refusal is None else {"code": refusal.code, "message": refusal.message}
            results.append(
                {"id": public_id, "ok": refusal is None, "conflict": answer, "error": error}
            )
        body = {
            "resolved": len(outcome.decided),
            "failed": len(results) - len(outcome.decided),
            "results": results,
            "runs": [run for run in outcome.runs.values() if run is not None],
        }
        return Response(ResolveManyResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)


# --- the people table -------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="List the people table: one person on two systems, per pair of connections"
    ),
    retrieve=extend_schema(summary="Read an entry of the people table"),
)
class PersonMappingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    """References to people are translated by email where both systems expose it; this
    table holds the rest. Each pair of connections has one table (stored with the older
    connection as A, whichever order an entry was given in)."""

    model = PersonMapping
    serializer_class = PersonMappingSerializer
    action_permissions = {
        "list": Permission.VIEW,
        "retrieve": Permission.VIEW,
        "create": Permission.EDIT,
        "destroy": Permission.EDIT,
    }
    filter_backends = [QueryFilterBackend, filters.OrderingFilter]
    query_filters = {
        "connection": QueryFilter(
            serializers.UUIDField(),
            lambda qs, v: qs.filter(Q(connection_a__public_id=v) | Q(connection_b__public_id=v)),
            "Only the entries of pairs with this connection.",
        ),
    }
    ordering_fields = ["value_a", "created_at"]
    ordering = ["value_a"]

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("connection_a", "connection_b")

    @extend_schema(
        summary="Add a person to the people table of two connections",
        description=(
            "References waiting for this person are written by the next run of each sync "
            "between the two connections. A person already in the table answers 400 naming "
            "`value_a` or `value_b`."
        ),
        request=PersonMappingInputSerializer,
        responses={201: PersonMappingSerializer},
    )
    def create(self, request: Request) -> Response:
        data = PersonMappingInputSerializer(
            data=request.data, context={"workspace": request.workspace}
        )
        data.is_valid(raise_exception=True)
        row = people.person_mapping_create(workspace=request.workspace, **data.validated_data)
        return Response(PersonMappingSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove an entry (references already written stay)", responses={204: None}
    )
    def destroy(self, request: Request, public_id: str | None = None) -> Response:
        people.person_mapping_delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
