"""The real Redmine server for tests: where it is, and per-test projects and users on it.

The server is ../shared/peers/start-redmine.sh's (REDMINE_URL and REDMINE_API_KEY, or the
env file it writes, $PEERS_DIR/redmine-data/redmine.env). It keeps its data between runs and
is shared by every test, so each test works in a project of its own (a fresh identifier,
deleted afterwards) and makes its users with unique logins.

When the server cannot be reached the tests that need it skip, saying why; with
CONCORD_REQUIRE_REDMINE=1 (CI) they fail instead. The custom fields these tests use cannot
be made over the REST API: setup-redmine.sh (beside this file) makes them with Rails, and
is run here once if they are missing and the instance is on this machine.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

HERE = Path(__file__).resolve().parent
CUSTOM_FIELDS = {"string": "Concord customer", "list": "Concord severity", "int": "Concord points"}
TIMEOUT = 15


def _env_file() -> dict[str, str]:
    peers = os.environ.get("PEERS_DIR", "/tmp/peers")
    path = Path(peers) / "redmine-data" / "redmine.env"
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip()] = value.strip().strip("'\"")
    return values


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (CONCORD_REQUIRE_REDMINE=1, as in CI) for a missing server."""
    if os.environ.get("CONCORD_REQUIRE_REDMINE") == "1":
        pytest.fail(f"CONCORD_REQUIRE_REDMINE=1 but {reason}", pytrace=False)
    pytest.skip(f"no real Redmine: {reason} (run ../shared/peers/start-redmine.sh)")


@dataclass
class RedmineServer:
    """An administrator's session on the real server, for test setup (not the connector)."""

    url: str
    api_key: str
    custom_fields: dict[str, int] = field(default_factory=dict)  # format -> id
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kw: Any):
        headers = {"X-Redmine-API-Key": self.api_key, **kw.pop("headers", {})}
        answer = self.session.request(
            method, self.url + path, headers=headers, timeout=TIMEOUT, **kw
        )
        assert answer.status_code in expect, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer

    def new_project(self) -> dict[str, Any]:
        identifier = f"concord-{uuid.uuid4().hex[:10]}"
        body = {
            "project": {
                "name": f"Concord test {identifier}",
                "identifier": identifier,
                "is_public": False,
                "tracker_ids": [1, 2, 3],
                "enabled_module_names": ["issue_tracking"],
            }
        }
        return self.call("POST", "/projects.json", json=body, expect=(201,)).json()["project"]

    def delete_project(self, identifier: str) -> None:
        self.call("DELETE", f"/projects/{identifier}.json", expect=(204, 404))

    def new_issue(self, project_id: int, subject: str, **fields: Any) -> dict[str, Any]:
        body = {"issue": {"project_id": project_id, "subject": subject, **fields}}
        return self.call("POST", "/issues.json", json=body, expect=(201,)).json()["issue"]

    def update_issue(self, issue_id: int | str, **fields: Any) -> None:
        self.call("PUT", f"/issues/{issue_id}.json", json={"issue": fields}, expect=(204,))

    def issue(self, issue_id: int | str) -> dict[str, Any]:
        return self.call("GET", f"/issues/{issue_id}.json").json()["issue"]

    def new_member(self, project_id: int, role: str) -> tuple[dict[str, Any], str]:
        """A user who is a member of the project with `role` ("Developer"), and their API
        key (read from /my/account.json, which makes one on first use)."""
        login = f"concord-{uuid.uuid4().hex[:10]}"
        password = uuid.uuid4().hex
        body = {
            "user": {
                "login": login,
                "firstname": "Concord",
                "lastname": role,
                "mail": f"{login}@example.org",
                "password": password,
            }
        }
        user = self.call("POST", "/users.json", json=body, expect=(201,)).json()["user"]
        roles = self.call("GET", "/roles.json").json()["roles"]
        role_id = next(r["id"] for r in roles if r["name"] == role)
        membership = {"membership": {"user_id": user["id"], "role_ids": [role_id]}}
        self.call(
            "POST", f"/projects/{project_id}/memberships.json", json=membership, expect=(201,)
        )
        account = self.session.get(
            self.url + "/my/account.json", auth=(login, password), timeout=TIMEOUT
        )
        assert account.status_code == 200, account.text
        return user, account.json()["user"]["api_key"]

    def delete_user(self, user_id: int) -> None:
        self.call("DELETE", f"/users/{user_id}.json", expect=(204, 404))


def _custom_fields(server: RedmineServer) -> dict[str, int]:
    listed = server.call("GET", "/custom_fields.json").json()["custom_fields"]
    by_name = {f["name"]: f["id"] for f in listed if f.get("customized_type") == "issue"}
    return {fmt: by_name[name] for fmt, name in CUSTOM_FIELDS.items() if name in by_name}


def connect() -> RedmineServer:
    """The real server, its custom fields in place; skips or fails when it is missing."""
    found = _env_file()
    url = os.environ.get("REDMINE_URL") or found.get("REDMINE_URL")
    key = os.environ.get("REDMINE_API_KEY") or found.get("REDMINE_API_KEY")
    if not url or not key:
        unavailable("neither REDMINE_URL nor the env file of start-redmine.sh is there")
    server = RedmineServer(url.rstrip("/"), key)
    try:
        answer = server.session.get(
            server.url + "/users/current.json",
            headers={"X-Redmine-API-Key": key},
            timeout=5,
        )
    except requests.RequestException as exc:
        unavailable(f"{url} does not answer ({type(exc).__name__})")
    if answer.status_code != 200:
        unavailable(f"{url} refused the API key with {answer.status_code}")
    server.custom_fields = _custom_fields(server)
    if len(server.custom_fields) < len(CUSTOM_FIELDS):
        setup = subprocess.run(
            [str(HERE / "setup-redmine.sh")], capture_output=True, text=True, timeout=300
        )
        server.custom_fields = _custom_fields(server)
        if len(server.custom_fields) < len(CUSTOM_FIELDS):
            unavailable(f"setup-redmine.sh could not make the custom fields: {setup.stderr}")
    return server


@pytest.fixture(scope="session")
def redmine_server() -> RedmineServer:
    """The real server (skips, or fails under CONCORD_REQUIRE_REDMINE=1, without one)."""
    return connect()


@pytest.fixture
def redmine_project(redmine_server: RedmineServer) -> Iterator[dict[str, Any]]:
    """A project of this test's own on the real server, removed afterwards."""
    project = redmine_server.new_project()
    yield project
    redmine_server.delete_project(project["identifier"])
