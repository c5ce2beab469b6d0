from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_user_logs_in_and_sees_their_workspace(page, live_server):
    member = MembershipFactory(workspace__name="Acme Support")
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email or username").fill(member.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Acme Support"


def test_a_wrong_password_says_so(page, live_server):
    member = MembershipFactory()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email or username").fill(member.user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert "Please enter a correct" in page.get_by_role("alert").inner_text()


def test_repeated_wrong_passwords_lock_the_account_with_a_message(page, live_server, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    member = MembershipFactory()
    page.goto(f"{live_server.url}/accounts/login/")
    for _ in range(3):
        page.get_by_label("Email or username").fill(member.user.username)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
    alert = page.get_by_role("alert").inner_text()
    assert "Too many failed logins" in alert
    assert "15 minutes" in alert
    # The right password is refused too, with the same message, until the lockout ends.
    page.get_by_label("Email or username").fill(member.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "Too many failed logins" in page.get_by_role("alert").inner_text()
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
