from django.http import HttpRequest

from apps.accounts import selectors
from apps.accounts.models import Permission


def workspace(request: HttpRequest) -> dict:
    """The request's workspace and what the member may do there, for every template: pages
    show every control to everyone and disable those the role does not allow."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    return {
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": membership,
        "my_memberships": selectors.memberships_for_user(user),
        "can_edit": membership is not None and membership.allows(Permission.EDIT),
        "can_admin": membership is not None and membership.allows(Permission.ADMIN),
    }
