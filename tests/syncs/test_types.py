"""The engine's vocabulary: the values the database stores and what each outcome means."""

from __future__ import annotations

import pytest

from apps.syncs.engine.types import ConflictChoice, FieldOutcome, Side
from apps.syncs.models import Conflict


@pytest.mark.parametrize(
    ("outcome", "target", "choice"),
    [
        (FieldOutcome.SETTLE, None, None),
        (FieldOutcome.KEEP, None, None),
        (FieldOutcome.WRITE_A, Side.A, None),
        (FieldOutcome.WRITE_B, Side.B, None),
        (FieldOutcome.POLICY_A, Side.B, ConflictChoice.A),
        (FieldOutcome.POLICY_B, Side.A, ConflictChoice.B),
        (FieldOutcome.CONFLICT, None, ConflictChoice.MANUAL),
    ],
)
def test_a_field_outcome_says_where_it_writes_and_how_its_conflict_is_decided(
    outcome, target, choice
):
    assert outcome.target is target
    assert outcome.choice is choice


def test_a_policy_choice_is_stored_as_the_conflict_resolution_and_names_the_loser():
    assert (ConflictChoice.A.value, ConflictChoice.B.value) == (
        Conflict.Resolution.A.value,
        Conflict.Resolution.B.value,
    )
    assert (ConflictChoice.A.loser, ConflictChoice.B.loser) == (Side.B, Side.A)
    assert ConflictChoice.MANUAL.loser is None
