"""Property tests with writes in a system's background jobs (docs/engine.md, "Writes in a
system's background job"): the five properties of tests/syncs/test_property.py, checked
while B (or both systems) answer every write as pending and do it only when the test lets
their job queue run, at any point between edits and runs.

So runs plan while earlier writes are still in flight, settle them when the jobs have run,
and users edit records whose writes are queued. Then the jobs run and runs settle until
nothing is in flight, and the same checks as the main property test apply: agreement, no
lost edit, no duplicate, quiet when idle, repeatable runs. (Crashes are left to the main
property test and tests/syncs/test_settle.py: here every write is queued, so a crash at the
n-th write never comes.)

One interleaving is left out: a user's edit of a field that a queued job is about to write
on the same record. The system's job then overwrites it when it runs, as any write arriving
after a person's edit does at the system (the engine cannot see an edit that its own write
erased before anyone read it). That is the system's last-writer-wins, the same with or
without waiting for the job (its queue runs it at the same moment either way); Zendesk
keeps the window to its queue's latency.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from apps.syncs.models import InFlightWrite
from connectors.memory.connector import reset_stores
from tests.syncs.test_property import (
    World,
    check_properties,
    config_st,
    create_st,
    delete_st,
    edit_st,
    faults_st,
    run_st,
)

pytestmark = pytest.mark.django_db

jobs_st = st.tuples(st.just("jobs"), st.sampled_from(["a", "b", "both"]))
op_st = st.one_of(
    create_st, create_st, edit_st, edit_st, edit_st, delete_st, run_st, jobs_st, jobs_st, faults_st
)


class JobsWorld(World):
    def apply(self, op: tuple) -> None:
        if op[0] == "edit" and self._queued_write_of(op):
            return  # see the module docstring
        if op[0] == "jobs":
            for side in ("a", "b") if op[1] == "both" else (op[1],):
                self.stores[side].run_jobs()
        elif op[0] == "twice":
            # The repeated run must not settle what the first one could not: the jobs do
            # not run between the two.
            self.run_twice()
        else:
            super().apply(op)

    def _queued_write_of(self, op: tuple) -> bool:
        """Whether the edit `op` would change a field a queued job writes to its record."""
        _, side, index, field, _ = op
        ids = self.live(side)
        if not ids:
            return False
        if side == "b":
            field = {"name": "full_name", "phone": "full_name"}.get(field, field)
        record_id = ids[index % len(ids)]
        return any(
            job_record == record_id and field in values
            for _, _, _, job_record, values in self.stores[side].jobs
        )

    def in_flight(self) -> bool:
        return InFlightWrite.objects.filter(sync=self.sync, state="in_flight").exists()

    def drain(self) -> None:
        """Run the jobs and the runs that settle them until nothing is in flight."""
        for _ in range(20):
            for store in self.stores.values():
                store.run_jobs()
            self.engine_run()
            if not self.in_flight() and not any(s.jobs for s in self.stores.values()):
                return
        raise AssertionError("writes still in flight after 20 rounds")

    def quiesce(self) -> None:
        for store in self.stores.values():
            store.feed_faults = set()
        self.drain()
        self.run_twice()
        self.drain()


@settings(
    max_examples=max(300, settings.default.max_examples),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    config=config_st,
    background=st.sampled_from(["b", "both"]),
    ops=st.lists(op_st, min_size=1, max_size=25),
)
def test_engine_properties_with_background_jobs(ws_factory, config, background, ops):
    note(f"config={config!r}\nbackground={background!r}\nops={ops!r}")
    reset_stores()
    with transaction.atomic():
        world = JobsWorld(ws_factory, config)
        for side in ("a", "b") if background == "both" else ("b",):
            world.stores[side].background = True
        for op in ops:
            world.apply(op)
        world.quiesce()
        check_properties(world)

        # 4. a run with no new changes makes no writes, and leaves nothing in flight
        writes = world.writes()
        world.engine_run()
        assert world.writes() == writes
        assert not any(s.jobs for s in world.stores.values())
        transaction.set_rollback(True)


@pytest.fixture
def ws_factory(db):
    from tests.syncs import factories as f

    return f.workspace()
