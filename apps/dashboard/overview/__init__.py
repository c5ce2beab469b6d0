"""The overview at /: every sync's health at a glance, failing connections, and runs and
changes per hour."""
