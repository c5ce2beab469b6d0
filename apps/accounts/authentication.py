"""Token authentication for the API: `Authorization: Bearer cnc_…` (or `Token cnc_…`).

Failed attempts are counted per client address (apps/accounts/lockout.py): DRF throttles
only after authentication, so the brake on guessing tokens sits here.
"""

from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts import lockout
from apps.accounts.models import Membership
from apps.accounts.services import api_token_authenticate


class WorkspaceTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[object, object] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        address = lockout.client_ip(request._request)
        wait = lockout.token_failure_wait(address)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait, detail="too many failed token authentications from your address"
            )
        try:
            return self._authenticate(request, header)
        except exceptions.AuthenticationFailed:
            lockout.token_failure_record(address)
            raise

    def _authenticate(self, request: Request, header: list[str]) -> tuple[object, object]:
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        token = api_token_authenticate(header[1])
        if token is None:
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        membership = Membership.objects.filter(user=token.user, workspace=token.workspace).first()
        if membership is None:
            raise exceptions.AuthenticationFailed("the token's user left its workspace")
        # A token is scoped to its workspace, whatever the session says.
        request._request.workspace = token.workspace
        request._request.membership = membership
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
