"""What `make run` does before it starts the processes: migrate, then a first login and
the demo.

Safe to run on every start: migrations are idempotent and the first user is created only
when no user exists. In development mode only, the password is printed once and kept in
`var/first-login.txt` (mode 0600: readable by the user who ran it, nobody else), so that it
can be found again once the processes' logs have scrolled it away; later starts say where
it is. Production creates no user (use `manage.py createsuperuser`).

The first start in development also enqueues the demo seeding (apps.dashboard.demo): it
needs the sandbox, which honcho starts only after this command, so a worker does it and
retries until the sandbox answers. Later starts enqueue nothing; `manage.py demo_seed`
seeds again on request (it creates only what is missing).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts import services as account_services
from apps.dashboard import demo
from apps.dashboard.tasks import demo_seed

FIRST_EMAIL = "admin@example.com"
FIRST_LOGIN_FILE = "first-login.txt"  # under CONCORD_VAR_DIR


def first_login_path() -> Path:
    return Path(settings.VAR_DIR) / FIRST_LOGIN_FILE


def _shown(path: Path) -> str:
    """The path as a person at the project's root would type it."""
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


def _first_login_save(path: Path, *, url: str, email: str, password: str) -> None:
    """Write the first login to `path`, readable and writable by this user only (0600),
    replacing an older file (of an earlier database) and never following a symlink."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was there before with a wider mode
    with os.fdopen(fd, "w") as out:
        out.write(
            "Concord's first login, written by `manage.py bootstrap` (development mode).\n\n"
            f"URL:      {url}/\n"
            f"Email:    {email}\n"
            f"Password: {password}\n\n"
            f"Change it with `.venv/bin/python manage.py changepassword {email}`, "
            "then delete this file.\n"
        )


class Command(BaseCommand):
    help = (
        "Migrate, and in development mode create the first user and workspace and enqueue "
        "the demo seeding (first start only)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if settings.PRODUCTION:
            return
        user_model = get_user_model()
        if user_model.objects.exists():
            saved = first_login_path()
            where = f" (the first login is in {_shown(saved)})" if saved.is_file() else ""
            self.stdout.write(f"first user exists; log in at {settings.CONCORD_PUBLIC_URL}/{where}")
            return
        sandbox_url = demo.sandbox_url_default()
        password = secrets.token_urlsafe(12)
        user, workspace = account_services.user_signup(
            email=FIRST_EMAIL, password=password, workspace_name=demo.DEMO_WORKSPACE_NAME
        )
        user_model.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
        # This process sees the PORT `make run` was given; honcho hands the worker another
        # one, so the worker's default CONCORD_PUBLIC_URL could be wrong. Send ours along.
        public_url = settings.CONCORD_PUBLIC_URL
        transaction.on_commit(lambda: demo_seed.delay(workspace.pk, sandbox_url, public_url))
        saved = first_login_path()
        _first_login_save(saved, url=public_url, email=FIRST_EMAIL, password=password)
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{bar}\n Concord is starting at {settings.CONCORD_PUBLIC_URL}/\n"
                f" Log in as {FIRST_EMAIL} with password {password}\n"
                f" (also kept in {_shown(saved)}, readable only by you; change it with\n"
                f" `.venv/bin/python manage.py changepassword {FIRST_EMAIL}`)\n"
                f" The demo (HubSpot, Zendesk and Jira sandboxes at {sandbox_url}, two syncs)\n"
                f" is seeded by the worker as soon as the sandbox answers.\n{bar}\n"
            )
        )
