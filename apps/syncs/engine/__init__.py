"""The sync engine: keeps two record sets (side A and side B) in agreement.

docs/engine.md tells the rules. The modules, from the pure core outwards:

- `types`: the vocabulary (sides, directions, policies, link states); pure.
- `values`: conversion kinds, conversion, equivalence, match keys; pure.
- `filters`: filter operators and scope; pure.
- `plan`: the planner, changed records + links + rules in, a `Plan` out; pure.
- `runner`: reads the feeds, calls the planner, applies the plan through the connectors.
- `store`: the runner's state in the database: links, bases, cursors, conflicts.
- `recorder`: what a run reports, and the protocol the reporting side implements.
"""
