"""Jira Cloud: connector, client, mappers, ADF conversion, webhooks and sandbox."""
