"""The connections pages: the list with health and webhook status, adding, testing,
editing and deleting a connection."""
