"""The OpenAPI schema is valid, and the live API keeps to it under schemathesis.

A live server (real HTTP on a localhost port) serves a workspace with data: two memory
connections, a sync with mappings and a filter, runs with events, an open conflict, a
webhook delivery. Schemathesis reads the schema the server serves and calls every
operation with generated input (valid and invalid), authenticated as the workspace's owner.
Path parameters are real ids of that workspace half of the time (random ones the other half),
so the operations reach their handlers and not only the 404. Each response must not be a
5xx and must match the schema: status code, content type, headers and body.

A stateful run follows the links schemathesis infers between operations (an id returned by
one operation used as a parameter of another).

Bounded: MAX_EXAMPLES per operation keeps the stateless run near a minute on two cores.
Run with `-s` to see the per-operation counts.
"""

from __future__ import annotations

import collections
import os
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts import services as account_services
from apps.accounts.models import Role
from apps.connections import services as connection_services
from apps.runs.execution import run_execute
from apps.runs.queue import run_request
from apps.syncs.models import Conflict
from apps.syncs.previews import preview_execute, preview_request
from apps.webhooks.models import WebhookDelivery
from connectors.memory.connector import reset_stores, sign_webhook
from tests.factories import MembershipFactory
from tests.running import run_now
from tests.syncs import factories as f

# Per operation and per mode (valid, invalid input). A longer hunt:
# CONCORD_SCHEMATHESIS_EXAMPLES=200 pytest tests/test_schema.py -s
MAX_EXAMPLES = int(os.environ.get("CONCORD_SCHEMATHESIS_EXAMPLES", "25"))
# The same cases on every run, so that CI's verdict is about the code, not the draw;
# CONCORD_SCHEMATHESIS_RANDOM=1 explores new cases (with more examples, to hunt for bugs).
DERANDOMIZE = os.environ.get("CONCORD_SCHEMATHESIS_RANDOM") != "1"
STATEFUL_SCENARIOS = max(1, MAX_EXAMPLES * 8 // 5)
STATEFUL_STEPS = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
WEBHOOK_SECRET = "whsec-schema-test-0123456789abcdef"

# Calls made, by test ("stateless"/"stateful"), operation and status class: the report.
CALLS: collections.Counter[tuple[str, str, str]] = collections.Counter()
PHASE = ["stateless"]


@pytest.fixture
def world(transactional_db, settings, client) -> dict[str, Any]:
    """A workspace with one of everything; returns the owner's token and the ids to use."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1000000/minute", "anon": "1000000/minute"},
    }
    reset_stores()
    owner = MembershipFactory(role=Role.OWNER)
    workspace = owner.workspace
    crm, desk = f.stores()
    sync = f.sync(
        workspace, crm, desk, filters=[{"side": "a", "field": "region", "operator": "not_empty"}]
    )
    victim_sync = f.sync(workspace, *f.stores())
    for n in range(3):
        crm.insert("contacts", {"email": f"p{n}@x.com", "name": f"P{n}", "region": "EU"})
    run_now(sync)
    record = crm.all("contacts")[0]
    partner = desk.all("users")[0]
    crm.edit("contacts", record.id, {"name": "From A"})
    desk.edit("users", partner.id, {"full_name": "From B"})
    run = run_request(sync, trigger="manual")
    run_execute(run.pk)
    conflict = Conflict.objects.get(sync=sync)
    preview = preview_request(sync)
    preview_execute(preview.pk)
    victim_connection = connection_services.connection_create(
        workspace=workspace,
        name="Spare",
        kind="memory",
        values={"base_url": f.MEMORY_URL, "store": crm.name},
    )
    sync.connection_a.webhook_secret = WEBHOOK_SECRET
    sync.connection_a.save()
    headers, body = sign_webhook(
        WEBHOOK_SECRET, [{"object_type": "contacts", "record_id": record.id}]
    )
    client.generic(
        "POST",
        f"/hooks/{sync.connection_a.public_id}/",
        body,
        content_type="application/json",
        HTTP_X_MEMORY_SIGNATURE=headers["X-Memory-Signature"],
    )
    _, raw = account_services.api_token_create(workspace=workspace, user=owner.user, name="fuzz")
    victim_member = MembershipFactory(workspace=workspace, role=Role.EDITOR)
    spare_token, _ = account_services.api_token_create(
        workspace=workspace, user=owner.user, name="spare"
    )
    yield {
        "token": raw,
        # Ids for path parameters, by the path's collection; DELETE gets a spare object
        # (deleting the sync every later call works on would leave nothing to test).
        "ids": {
            "connections": str(sync.connection_a.public_id),
            "syncs": str(sync.public_id),
            "conflicts": str(conflict.public_id),
            "runs": str(run.public_id),
            "previews": str(preview.public_id),
            "webhook-deliveries": str(WebhookDelivery.objects.get().public_id),
            "members": str(victim_member.pk),
            "tokens": str(spare_token.pk),
            "connector-kinds": "hubspot",
        },
        "spare": {
            "connections": str(victim_connection.public_id),
            "syncs": str(victim_sync.public_id),
        },
    }
    reset_stores()


def _real_ids(world: dict[str, Any]):
    """A hook that puts real ids into path parameters half of the time."""

    def flatmap_path_parameters(context, path_parameters: dict[str, Any]):
        operation = context.operation
        collection = operation.path.split("/")[3] if operation.path.count("/") > 3 else ""
        ids = world["spare"] if operation.method.upper() == "DELETE" else world["ids"]
        real = ids.get(collection, world["ids"].get(collection))
        if real is None or not path_parameters:
            return st.just(path_parameters)
        (name,) = path_parameters
        return st.sampled_from([path_parameters, {**path_parameters, name: real}])

    return flatmap_path_parameters


def _count(context, case, response) -> None:
    CALLS[(PHASE[0], case.operation.label, f"{response.status_code // 100}xx")] += 1


@pytest.fixture
def api_schema(live_server, world):
    response = requests.get(f"{live_server.url}/api/schema/", timeout=30)
    assert response.status_code == 200
    raw = yaml.safe_load(response.content)
    validate(raw)
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {world['token']}"},
        suppress_health_check=list(HealthCheck),
    )
    schema.config.generation.update(max_examples=MAX_EXAMPLES)
    schema.hook("flatmap_path_parameters")(_real_ids(world))
    schema.hook("after_call")(_count)
    return schema


def test_the_served_schema_is_valid_openapi(live_server, world):
    raw = yaml.safe_load(requests.get(f"{live_server.url}/api/schema/", timeout=30).content)
    validate(raw)
    assert raw["openapi"].startswith("3.")
    operations = {
        (method, path): op
        for path, item in raw["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids))  # clients generate one function per operation id
    v1 = "/api/v1"
    assert {
        ("post", f"{v1}/syncs/"),
        ("put", f"{v1}/syncs/{{public_id}}/"),
        ("post", f"{v1}/syncs/{{public_id}}/preview/"),
        ("post", f"{v1}/syncs/{{public_id}}/run/"),
        ("post", f"{v1}/syncs/{{public_id}}/held-run/approve/"),
        ("post", f"{v1}/syncs/import/"),
        ("get", f"{v1}/syncs/{{public_id}}/export/"),
        ("get", f"{v1}/runs/{{public_id}}/events/"),
        ("post", f"{v1}/runs/{{public_id}}/cancel/"),
        ("post", f"{v1}/conflicts/{{public_id}}/resolve/"),
        ("post", f"{v1}/conflicts/resolve/"),
        ("get", f"{v1}/webhook-deliveries/{{public_id}}/"),
    } <= set(operations)
    run = operations[("post", f"{v1}/syncs/{{public_id}}/run/")]
    assert set(run["responses"]) >= {"202", "401", "403", "404", "409", "429"}


@pytest.mark.django_db
def test_an_unknown_path_is_a_json_404_even_with_control_characters(client):
    """Found by schemathesis: a member id with a newline fell through to Django's HTML 404."""
    for path in ("/api/v1/members/%0A%18/", "/api/v1/tokens/a%0Ab/", "/api/v1/nothing%0A/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"


def _exercise(operation, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    """Run one operation's generated cases; return the failures found (each once)."""
    failures: list[str] = []

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # a failure is reported as found, not shrunk
        database=None,
        derandomize=DERANDOMIZE,
    )
    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except FailureGroup as exc:
            kinds = sorted({type(e).__name__ for e in exc.exceptions})
            message = f"{mode} {operation.label}: {', '.join(kinds)}"
            if not any(f.startswith(message) for f in failures):
                failures.append(f"{message}\n{str(exc)[:3000]}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing of this operation can be made invalid (no parameters, no body).
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def test_the_api_keeps_to_its_schema(api_schema, world):
    """Stateless: every operation, with valid and invalid generated input."""
    PHASE[0] = "stateless"
    headers = {"Authorization": f"Bearer {world['token']}"}
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _exercise(operation, mode, headers)
    assert operations >= 48
    assert not failures, "\n\n".join(failures)


def test_stateful_sequences_keep_to_the_schema(api_schema):
    """Sequences of calls that pass ids from one answer to the next operation's parameters,
    following the links schemathesis infers from the schema."""
    scenarios = [0]

    class Workflow(api_schema.as_state_machine()):
        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

        def teardown(self) -> None:
            scenarios[0] += 1

    PHASE[0] = "stateful"
    restarts = 0
    while scenarios[0] < STATEFUL_SCENARIOS and restarts < STATEFUL_SCENARIOS:
        try:
            Workflow.run(
                settings=hypothesis.settings(
                    max_examples=STATEFUL_SCENARIOS - scenarios[0],
                    stateful_step_count=STATEFUL_STEPS,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.generate],
                    database=None,
                    derandomize=DERANDOMIZE,
                )
            )
        except hypothesis.errors.Flaky:
            # The server's state changes under the scenarios (a deleted object leaves a link
            # with nothing to follow), so a replayed prefix can choose differently; like
            # schemathesis' own runner, start a fresh run for the scenarios left.
            restarts += 1
            continue
        break
    stateful = {label for phase, label, _ in CALLS if phase == "stateful"}
    assert len(stateful) >= 5, stateful  # it followed links through several operations


@pytest.fixture(scope="module", autouse=True)
def _report():
    """Print the counts (with -s): how many calls, over how many operations, by status."""
    yield
    for phase in ("stateless", "stateful"):
        calls = {k: n for k, n in CALLS.items() if k[0] == phase}
        if not calls:
            continue
        by_class: collections.Counter[str] = collections.Counter()
        for (_, _, status_class), n in calls.items():
            by_class[status_class] += n
        operations = {label for _, label, _ in calls}
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(by_class.items()))
        print(  # noqa: T201 - the counts are this test's report
            f"\nschemathesis {phase}: {sum(calls.values())} calls over "
            f"{len(operations)} operations; {summary}"
        )
