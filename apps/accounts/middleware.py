"""Resolves the current workspace of a session user once per request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.accounts import selectors

SESSION_KEY = "concord_workspace_id"


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = None
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            membership = selectors.membership_for(user, request.session.get(SESSION_KEY))
            if membership is not None:
                request.membership = membership
                request.workspace = membership.workspace
        return self.get_response(request)
