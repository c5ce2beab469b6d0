"""What `make run` does before it starts the processes: migrate, then a first login and
the demo.

Safe to run on every start: migrations are idempotent and the first user is created only
when no user exists. The password is printed once, in development mode only; production
creates no user (use `manage.py createsuperuser`).

The first start in development also enqueues the demo seeding (apps.dashboard.demo): it
needs the sandbox, which honcho starts only after this command, so a worker does it and
retries until the sandbox answers. Later starts enqueue nothing; `manage.py demo_seed`
seeds again on request (it creates only what is missing).
"""

from __future__ import annotations

import secrets
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
            self.stdout.write(f"first user exists; log in at {settings.CONCORD_PUBLIC_URL}/")
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
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{bar}\n Concord is starting at {settings.CONCORD_PUBLIC_URL}/\n"
                f" Log in as {FIRST_EMAIL} with password {password}\n"
                f" (shown only this once; change it with "
                f"`.venv/bin/python manage.py changepassword {FIRST_EMAIL}`)\n"
                f" The demo (HubSpot, Zendesk and Jira sandboxes at {sandbox_url}, two syncs)\n"
                f" is seeded by the worker as soon as the sandbox answers.\n{bar}\n"
            )
        )
