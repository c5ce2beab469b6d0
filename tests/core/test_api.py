"""The shared API plumbing: the error shape for every status, throttling with Retry-After,
and a schema that validates and documents the errors the API really answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.cache import cache
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(role: str = Role.ADMIN) -> APIClient:
    membership = MembershipFactory(role=role)
    _, raw = services.api_token_create(
        workspace=membership.workspace, user=membership.user, name="tests"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = membership.user
    return client


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def test_unknown_api_paths_are_404_in_the_error_shape():
    client = client_for()
    assert error_of(client.get("/api/v1/nothing/here/"), 404) == {
        "code": "not_found",
        "message": "no API endpoint at /api/v1/nothing/here/",
        "fields": {},
    }
    no_slash = error_of(client.post("/api/v1/connections", {}), 404)
    assert no_slash["message"].endswith("API paths end with a slash")


def test_a_wrong_method_is_405_in_the_error_shape():
    error = error_of(client_for().delete("/api/v1/me/"), 405)
    assert error == {"code": "method_not_allowed", "message": 'Method "DELETE" not allowed.',
                     "fields": {}}  # fmt: skip


def test_a_filter_value_with_a_nul_character_is_400_not_a_database_error():
    # PostgreSQL refuses NUL in text; found by schemathesis on CI's PostgreSQL.
    error = error_of(client_for().get("/api/v1/connections/", {"kind": "hub\x00spot"}), 400)
    assert error["fields"] == {"kind": ["must not contain NUL characters"]}


def test_a_json_body_with_a_nul_character_is_400_not_a_database_error():
    body = '{"name": "Desk", "kind": "zendesk", "config": {"subdomain": "acme\\u0000"}}'
    response = client_for().post("/api/v1/connections/", body, content_type="application/json")
    assert error_of(response, 400)["message"] == (
        "JSON strings must not contain NUL (\\u0000) characters"
    )


def test_json_nested_1000_deep_is_400_not_a_server_error():
    client = client_for()
    client.raise_request_exception = False  # a RecursionError must not become a 500
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    response = client.post("/api/v1/connections/", body, content_type="application/json")
    assert error_of(response, 400) == {
        "code": "parse_error",
        "message": "JSON nested more than 100 levels deep",
        "fields": {},
    }


def test_json_nested_past_the_limit_is_400_even_when_python_could_parse_it():
    deep = '{"name": "Desk", "kind": "zendesk", "config": ' + "[" * 100 + "]" * 100 + "}"
    response = client_for().post("/api/v1/connections/", deep, content_type="application/json")
    assert error_of(response, 400)["message"] == "JSON nested more than 100 levels deep"
    # 100 levels in all (the object, then 99 lists) is allowed: the serializer answers.
    ok = '{"name": "Desk", "kind": "zendesk", "config": ' + "[" * 99 + "]" * 99 + "}"
    response = client_for().post("/api/v1/connections/", ok, content_type="application/json")
    assert error_of(response, 400)["code"] == "validation_error"


def test_a_body_over_the_upload_limit_is_413_in_the_error_shape(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440  # Django's 2.5 MB default
    client = client_for()
    client.raise_request_exception = False
    body = '{"name": "' + "x" * (3 * 1024 * 1024) + '"}'
    response = client.post("/api/v1/connections/", body, content_type="application/json")
    assert error_of(response, 413) == {
        "code": "request_too_large",
        "message": "the request body is larger than the limit of 2621440 bytes",
        "fields": {},
    }


def test_bad_credentials_are_401_in_the_error_shape():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer cnc_not-a-token")
    response = client.get("/api/v1/me/")
    assert error_of(response, 401) == {
        "code": "authentication_failed",
        "message": "invalid or revoked token",
        "fields": {},
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_throttling_answers_429_with_retry_after(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/minute", "anon": "3/minute"},
    }
    client = client_for(Role.VIEWER)
    # The cache may be a shared Redis that outlives the test database: start this user clean.
    cache.delete(f"throttle_user_{client.user.pk}")
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/me/")
    error = error_of(response, 429)
    assert error["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "available in" in error["message"]


@pytest.mark.parametrize(("value", "works"), [("lots", False), ("0/minute", False),
                                               ("50/hour", True)])  # fmt: skip
def test_throttle_rates_come_from_the_environment_and_bad_ones_fail_loudly(tmp_path, value, works):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        CONCORD_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="apps.config.settings",
        CONCORD_API_RATE_USER=value,
    )
    code = (
        "from django.conf import settings; print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    )
    started = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    if works:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == "{'user': '50/hour', 'anon': '120/minute'}"
    else:
        assert started.returncode != 0
        assert "CONCORD_API_RATE_USER must look like 600/minute" in started.stderr
        assert repr(value) in started.stderr


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_validates_and_every_operation_documents_its_errors(schema):
    validate(schema)
    error_ref = {"$ref": "#/components/schemas/Error"}
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith("/api/v1/")
    ]
    assert len(operations) >= 23
    for path, method, op in operations:
        responses = op["responses"]
        for status in ("401", "403", "429"):
            assert status in responses, (method, path, status)
            assert responses[status]["content"]["application/json"]["schema"] == error_ref
        assert "Retry-After" in responses["429"]["headers"]
        if "{" in path:
            assert "404" in responses, (method, path)
        if method in ("post", "put", "patch"):
            assert "400" in responses, (method, path)
            assert "413" in responses, (method, path)
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"code", "message", "fields"}


def test_the_schema_never_offers_a_secret_in_a_response(schema):
    components = schema["components"]["schemas"]
    assert "webhook_secret" not in components["Connection"]["properties"]
    assert components["ConnectionCreateRequest"]["properties"]["webhook_secret"]["writeOnly"]
    assert "token" not in components["Token"]["properties"]
    assert "token" in components["TokenCreated"]["properties"]  # the one-time answer


def test_real_error_answers_match_the_schema(schema):
    openapi = OpenAPI.from_dict(schema)
    client = client_for(Role.VIEWER)
    answers = [
        client.get("/api/v1/connections/", {"status": "sideways"}),  # 400 with fields
        client.post("/api/v1/connections/", {}, format="json"),  # 403 for a viewer
        client.get("/api/v1/connections/00000000-0000-4000-8000-000000000000/"),  # 404
        APIClient().get("/api/v1/tokens/"),  # 401
    ]
    assert [a.status_code for a in answers] == [400, 403, 404, 401]
    for answer in answers:
        openapi.validate_response(
            DjangoOpenAPIRequest(answer.wsgi_request), DjangoOpenAPIResponse(answer)
        )


def test_a_page_past_the_end_is_404_and_documented(schema):
    client = client_for(Role.VIEWER)
    error = error_of(client.get("/api/v1/members/", {"page": 2}), 404)
    assert error == {"code": "not_found", "message": "Invalid page.", "fields": {}}
    listing = schema["paths"]["/api/v1/members/"]["get"]
    assert "404" in listing["responses"]
    page = next(p for p in listing["parameters"] if p["name"] == "page")
    assert page["schema"]["minimum"] == 1
