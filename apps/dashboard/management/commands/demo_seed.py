"""`manage.py demo_seed`: seed the demo now, against a running sandbox.

Bootstrap enqueues the same seeding on the first start; this command is for later: after the
worker gave up waiting for the sandbox, for a database that existed before the demo did, or
after a change of PORT or SANDBOX_PORT (connections follow the sandbox URL and the webhook
targets are registered again with the current CONCORD_PUBLIC_URL). It creates only what is
missing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import Workspace
from apps.core.errors import DomainError
from apps.dashboard import demo


class Command(BaseCommand):
    help = "Create the demo connections and syncs against the local sandbox (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--workspace",
            help=f"slug of the workspace to seed (default: the {demo.DEMO_WORKSPACE_NAME!r})",
        )
        parser.add_argument(
            "--sandbox-url",
            help="the sandbox server (default: http://127.0.0.1:$SANDBOX_PORT, port 8100)",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="wait up to this long for the sandbox to answer (default: do not wait)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("the demo is for development mode only")
        if options["workspace"]:
            workspace = Workspace.objects.filter(slug=options["workspace"]).first()
            if workspace is None:
                raise CommandError(f"no workspace with the slug {options['workspace']!r}")
        else:
            workspace = demo.demo_workspace()
            if workspace is None:
                raise CommandError(
                    f"no workspace named {demo.DEMO_WORKSPACE_NAME!r}; pass --workspace SLUG"
                )
        sandbox_url = options["sandbox_url"] or demo.sandbox_url_default()
        try:
            if options["wait"] > 0:
                demo.sandbox_wait(sandbox_url, timeout=options["wait"])
            result = demo.demo_seed(workspace=workspace, sandbox_url=sandbox_url)
        except (demo.DemoError, DomainError) as exc:
            raise CommandError(str(exc)) from exc
        created = result.connections_created + result.syncs_created
        self.stdout.write(
            f"demo in workspace {workspace.slug!r}: "
            + (f"created {', '.join(created)}" if created else "nothing was missing")
        )
        for kind, url in sorted(result.webhooks.items()):
            self.stdout.write(f"  {kind} webhooks -> {url}")
