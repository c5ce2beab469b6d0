"""Brakes on guessing: login lockout (django-axes) and failed-token throttling.

Logins (`/accounts/login/` and `/admin/login/`, through Django's `authenticate`): django-axes
counts wrong passwords per account *and* address. After CONCORD_LOGIN_FAILURE_LIMIT of them
the account is locked from that address for CONCORD_LOGIN_LOCKOUT_MINUTES, right password or
not; other accounts and other addresses go on as before, so a guesser cannot lock a person
out from everywhere. A successful login starts the count again. The answer is the login page
itself (status 429) with the reason where a wrong password's message goes.

API tokens: DRF authenticates before it throttles, so the token authentication class asks
this module first: an address with CONCORD_TOKEN_FAILURE_LIMIT failed token
authentications in the current minute is answered 429 with Retry-After, even for a right
token (a guess that hits is not told so), until the minute is over.

Both see the client's address through `client_ip`: REMOTE_ADDR, unless the operator says
how many proxies in front of Concord append to X-Forwarded-For (CONCORD_TRUSTED_PROXY_COUNT);
a header nobody trusted is the client's own invention and is ignored.
"""

from __future__ import annotations

import ipaddress
import math
import time
from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.core.cache import cache
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

TOKEN_FAILURE_WINDOW = 60  # seconds


# --- The client's address ---------------------------------------------------------------------
def client_ip(request: HttpRequest) -> str:
    """The address the request came from, as far as it can be trusted.

    With CONCORD_TRUSTED_PROXY_COUNT = 0 (the default) that is REMOTE_ADDR. With N trusted
    proxies, each appending the address it saw to X-Forwarded-For, it is the N-th entry
    from the right: what the outermost trusted proxy saw. Entries further left were written
    by the client and prove nothing. A header with fewer entries than proxies (the request
    did not pass through them), or an entry that is not an address, falls back to
    REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "CONCORD_TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [hop for hop in forwarded if hop]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


# --- Logins (django-axes) ---------------------------------------------------------------------
class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first in AUTHENTICATION_BACKENDS.

    Every login page passes the request to `authenticate`; a call without one (the test
    client's `login`, a shell, a management command) comes from code on this machine, not
    from a guesser, and has no address to count against, so it is let through to the next
    backend instead of failing as axes' own backend does.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def login_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """AXES_USERNAME_CALLABLE: one account, one count, whatever case or spaces were typed
    (usernames are lower-case emails)."""
    username = (credentials or {}).get("username")
    if username is None and request is not None:
        username = request.POST.get("username", "")
    return str(username or "").strip().lower()


def _duration(delta: timedelta) -> str:
    seconds = max(1, math.ceil(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def lockout_message(request: HttpRequest | None = None) -> str:
    cool_off = get_cool_off(request)
    wait = f"for {_duration(cool_off)}" if cool_off else "until an operator unlocks it"
    return (
        "Too many failed logins: this account is locked from your address "
        f"{wait}. Try again later, or ask an operator to unlock it."
    )


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page that was asked for (the dashboard's or the
    admin's), answered 429, with the lockout message instead of "wrong password"."""
    message = lockout_message(request)
    context = getattr(original_response, "context_data", None) or {}
    form = context.get("form")
    if isinstance(original_response, TemplateResponse) and form is not None:
        form._errors = ErrorDict({"__all__": form.error_class([message], error_class="nonfield")})
        response = TemplateResponse(request, original_response.template_name, context, status=429)
    else:
        response = TemplateResponse(
            request, "accounts/locked_out.html", {"message": message}, status=429
        )
    cool_off = get_cool_off(request)
    if cool_off:
        response["Retry-After"] = str(max(1, math.ceil(cool_off.total_seconds())))
    return response.render()


# --- API tokens -------------------------------------------------------------------------------
def _token_key(address: str, window: int) -> str:
    return f"token-failures:{address}:{window}"


def token_failure_wait(address: str) -> int | None:
    """Seconds the address must wait before its next token is looked at, or None when it
    is below CONCORD_TOKEN_FAILURE_LIMIT failures this minute (0 turns the brake off)."""
    limit = getattr(settings, "CONCORD_TOKEN_FAILURE_LIMIT", 0)
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // TOKEN_FAILURE_WINDOW)
    if (cache.get(_token_key(address, window)) or 0) < limit:
        return None
    return max(1, math.ceil((window + 1) * TOKEN_FAILURE_WINDOW - now))


def token_failure_record(address: str) -> None:
    """Count one failed token authentication from `address` in the current minute."""
    window = int(time.time() // TOKEN_FAILURE_WINDOW)
    key = _token_key(address, window)
    cache.add(key, 0, timeout=TOKEN_FAILURE_WINDOW * 2)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=TOKEN_FAILURE_WINDOW * 2)
