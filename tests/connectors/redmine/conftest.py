"""Fixtures for tests against the real Redmine server (see real.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.connectors.redmine.real import RedmineServer, connect


@pytest.fixture(scope="session")
def redmine_server() -> RedmineServer:
    return connect()


@pytest.fixture
def redmine_project(redmine_server: RedmineServer) -> Iterator[dict[str, Any]]:
    """A project of this test's own on the real server, removed afterwards."""
    project = redmine_server.new_project()
    yield project
    redmine_server.delete_project(project["identifier"])
