"""The run log (every event of a run, filtered and paged) and a record's history."""
