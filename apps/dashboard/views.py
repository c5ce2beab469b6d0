from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts import selectors
from apps.accounts.scoping import workspace_required


@workspace_required()
def overview(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/overview.html",
        {"members": selectors.workspace_members(request.workspace)},
    )
