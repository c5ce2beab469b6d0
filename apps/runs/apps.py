from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"
    label = "runs"

    def ready(self) -> None:
        # Webhooks and conflict decisions ask for runs through apps.syncs.triggers, which
        # cannot import runs (runs sits above syncs, beside webhooks): plug the queue in.
        from apps.runs.queue import run_request
        from apps.syncs import triggers

        triggers.requester_set(run_request)
