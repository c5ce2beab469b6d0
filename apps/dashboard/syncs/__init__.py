"""The syncs pages: the list and the sync builder (sides, fields, scope and rules, review)."""
