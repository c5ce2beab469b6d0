"""The sync engine: keeps two record sets (side A and side B) in agreement.

docs/engine.md tells the rules. The pure core (no Django, no I/O):

- `types`: the vocabulary: sides, directions, policies, link states, merge outcomes.
- `values`: conversion kinds, conversion, equivalence, match keys.
- `filters`: filter operators and scope.
- `plan_types`: what the planner is given (rules, links, changed records) and its `Plan`.
- `merge`: a pair against its link: stale copies, echoes, the field-by-field merge, the base.
- `plan`: the planner: `plan()` decides everything one batch of changes calls for.

Around it, a run in the order it happens:

- `runner`: `Runner.run()`, the order of a run, and `RunOptions`.
- `sides`: each side's connector; its failures are `SideFailure`s carrying the side.
- `recovery`: creates an interrupted run left pending are linked or planned again.
- `dry_run`: planning without writing, for a `Preview` and the `SafetyLimit`.
- `batch`: reading what one batch needs (partners, match candidates, links) and planning it.
- `apply`: carrying out a plan: writes, links, bases, conflicts, events.
- `store`: the runner's state in the database: links, bases, cursors, conflicts.
- `recorder`: what a run reports, and the protocol the reporting side implements.
"""
