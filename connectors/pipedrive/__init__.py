"""Pipedrive CRM: persons and organizations over API v2 (v1 for users and webhooks)."""
