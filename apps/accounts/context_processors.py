from django.http import HttpRequest

from apps.accounts import selectors


def workspace(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": getattr(request, "membership", None),
        "my_memberships": selectors.memberships_for_user(user),
    }
