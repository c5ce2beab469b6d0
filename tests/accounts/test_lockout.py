"""Password guessing on the login pages and token guessing on the API meet a brake
(apps/accounts/lockout.py): django-axes locks an account out from one address after
CONCORD_LOGIN_FAILURE_LIMIT wrong passwords, and failed token authentications from one
address are answered 429 after CONCORD_TOKEN_FAILURE_LIMIT a minute."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import Role
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
WRONG = "Please enter a correct"
LOCKED = "Too many failed logins"


@pytest.fixture(autouse=True)
def _brakes(settings):
    """The defaults, stated here so the test does not depend on the environment; a fast
    hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 10
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.CONCORD_TOKEN_FAILURE_LIMIT = 10


@pytest.fixture
def net() -> str:
    """A network of this test's own: token failure counts live in the cache, which on Redis
    outlives a test, so two tests must not share an address."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}"


def _login(client, username: str, password: str, *, path: str = LOGIN, address: str = "10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _guess(client, username: str, times: int, **kwargs) -> list:
    return [_login(client, username, "not the password", **kwargs) for _ in range(times)]


def test_the_tenth_wrong_password_locks_the_account_out_even_for_the_right_one(client):
    member = MembershipFactory()
    answers = _guess(client, member.user.username, 10)
    assert [a.status_code for a in answers[:9]] == [200] * 9
    assert all(WRONG in a.content.decode() for a in answers[:9])
    locked = answers[9]
    assert locked.status_code == 429
    page = locked.content.decode()
    assert LOCKED in page
    assert "15 minutes" in page
    assert "Log in to Concord" in page  # the login page itself, with the reason in its alert
    # The attempts are kept for the operator, without the passwords tried.
    attempt = AccessAttempt.objects.get(username=member.user.username)
    assert (attempt.ip_address, attempt.failures_since_start) == ("10.0.0.1", 10)
    assert "not the password" not in attempt.post_data

    right = _login(client, member.user.username, PASSWORD)
    assert right.status_code == 429
    assert LOCKED in right.content.decode()
    assert not _logged_in(client)


def test_other_accounts_and_other_addresses_are_not_locked_out(client):
    victim, bystander = MembershipFactory(), MembershipFactory()
    _guess(client, victim.user.username, 10)
    assert _login(client, victim.user.username, PASSWORD).status_code == 429

    other_account = _login(client, bystander.user.username, PASSWORD)
    assert other_account.status_code == 302
    client.logout()
    other_address = _login(client, victim.user.username, PASSWORD, address="10.0.0.2")
    assert other_address.status_code == 302
    assert _logged_in(client)


def test_the_username_is_one_account_whatever_its_case(client):
    MembershipFactory(user__username="ada@example.com")
    for i in range(10):
        _login(client, "ada@example.com" if i % 2 else " ADA@Example.com", "wrong")
    assert _login(client, "ada@example.com", PASSWORD).status_code == 429


def test_a_forwarded_for_header_does_not_make_a_new_address(client):
    """Without a trusted proxy (the default), X-Forwarded-For is whatever the client says:
    it must not give each guess a fresh address."""
    member = MembershipFactory()
    for i in range(10):
        client.post(
            LOGIN,
            {"username": member.user.username, "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
    assert _login(client, member.user.username, PASSWORD).status_code == 429


def test_the_lockout_ends_after_the_cool_off(client, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    member = MembershipFactory()
    _guess(client, member.user.username, 10)
    assert _login(client, member.user.username, PASSWORD).status_code == 429
    time.sleep(1.2)
    assert _login(client, member.user.username, PASSWORD).status_code == 302
    assert _logged_in(client)


def test_a_successful_login_starts_the_count_again(client):
    member = MembershipFactory()
    _guess(client, member.user.username, 9)
    assert _login(client, member.user.username, PASSWORD).status_code == 302
    client.logout()
    answers = _guess(client, member.user.username, 9)
    assert all(a.status_code == 200 for a in answers)


def test_the_admin_login_locks_out_too(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    answers = _guess(client, admin.username, 10, path=ADMIN_LOGIN)
    assert [a.status_code for a in answers[:9]] == [200] * 9
    assert answers[9].status_code == 429
    assert LOCKED in answers[9].content.decode()
    right = _login(client, admin.username, PASSWORD, path=ADMIN_LOGIN)
    assert right.status_code == 429
    assert LOCKED in right.content.decode()
    assert not _logged_in(client)
    # The two login pages share the count: the dashboard's is locked for the account too.
    assert _login(client, admin.username, PASSWORD).status_code == 429


# --- Client address ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no proxy trusted: the header is ignored
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the client cannot prepend one
        (2, "198.51.100.7, 203.0.113.9, 10.0.0.5", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer hops than proxies: not through them
        (1, None, "10.0.0.1"),
        (1, "not-an-address", "10.0.0.1"),
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(
    settings, proxies, forwarded, expected
):
    from apps.accounts.lockout import client_ip

    settings.CONCORD_TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **headers)
    assert client_ip(request) == expected


# --- API tokens -------------------------------------------------------------------------------
def _bearer(raw: str, address: str) -> APIClient:
    api = APIClient(REMOTE_ADDR=address)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def test_failed_token_authentication_is_throttled_per_address(net):
    member = MembershipFactory(role=Role.VIEWER)
    _, raw = services.api_token_create(workspace=member.workspace, user=member.user, name="t")
    guesses = [_bearer(f"cnc_guess{i}", f"{net}.1").get("/api/v1/me/") for i in range(10)]
    assert [g.status_code for g in guesses] == [401] * 10

    throttled = _bearer("cnc_guess10", f"{net}.1").get("/api/v1/me/")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    # Even the right token waits, from that address: a guess that hits is not told so.
    assert _bearer(raw, f"{net}.1").get("/api/v1/me/").status_code == 429
    # Another address is not held up.
    assert _bearer(raw, f"{net}.2").get("/api/v1/me/").status_code == 200


def test_good_tokens_do_not_count_as_failures(net):
    member = MembershipFactory(role=Role.VIEWER)
    _, raw = services.api_token_create(workspace=member.workspace, user=member.user, name="t")
    for _ in range(15):
        assert _bearer(raw, f"{net}.1").get("/api/v1/me/").status_code == 200
    assert _bearer("cnc_wrong", f"{net}.1").get("/api/v1/me/").status_code == 401
