"""`manage.py bootstrap`, the first step of `make run`: the first login is printed once and
kept in a file only its owner can read, so it can be found again after start-up."""

from __future__ import annotations

import io
import re
import stat

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from apps.dashboard.management.commands.bootstrap import FIRST_EMAIL, first_login_path

pytestmark = pytest.mark.django_db


def bootstrap() -> str:
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def test_the_first_login_is_printed_and_kept_for_its_owner_only(settings):
    settings.CONCORD_PUBLIC_URL = "http://127.0.0.1:8123"
    printed = bootstrap()

    [password] = re.findall(rf"Log in as {FIRST_EMAIL} with password (\S+)", printed)
    path = first_login_path()
    assert f"also kept in {path}, readable only by you" in printed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = path.read_text()
    assert "URL:      http://127.0.0.1:8123/\n" in kept
    assert f"Email:    {FIRST_EMAIL}\n" in kept
    assert f"Password: {password}\n" in kept
    assert authenticate(username=FIRST_EMAIL, password=password) is not None


def test_later_starts_say_where_the_first_login_is_and_keep_it(settings):
    bootstrap()
    kept = first_login_path().read_text()

    printed = bootstrap()

    assert f"first user exists; log in at {settings.CONCORD_PUBLIC_URL}/" in printed
    assert f"(the first login is in {first_login_path()})" in printed
    assert "password" not in printed
    assert first_login_path().read_text() == kept
    assert get_user_model().objects.count() == 1


def test_a_file_left_by_an_earlier_database_is_replaced_and_closed_to_others():
    path = first_login_path()
    path.parent.mkdir(parents=True)
    path.write_text("Password: an old one\n")
    path.chmod(0o644)

    printed = bootstrap()

    [password] = re.findall(r"with password (\S+)", printed)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"Password: {password}\n" in path.read_text()
    assert "an old one" not in path.read_text()


def test_production_creates_no_user_and_no_file(settings):
    settings.PRODUCTION = True
    printed = bootstrap()
    assert printed == "database migrated\n"
    assert not first_login_path().exists()
    assert not get_user_model().objects.exists()
