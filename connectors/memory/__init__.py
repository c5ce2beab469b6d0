"""An in-memory connector: named in-process "systems" for tests, demos and the benchmarks.

See `connectors.memory.connector` for how to define a store, edit it as a user would, and
inject feed faults, per-record failures and crashes.
"""
