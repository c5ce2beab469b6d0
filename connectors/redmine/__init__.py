"""Redmine: the issues of one project, over the REST API (polling only)."""
