"""Fixtures for tests against the real Redmine server (see real.py)."""

from tests.connectors.redmine.real import redmine_project, redmine_server

__all__ = ["redmine_project", "redmine_server"]
