"""GitHub Issues: connector, client, mappers, webhooks and sandbox."""
