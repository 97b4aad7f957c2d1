"""The store -> team mapping written back to Commerce (shared/provisioning/writeback.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import ProblemKind, TeamMapping, TeamSourceType
from shared.provisioning.writeback import MappingWrite, mapping_write

STORE = TeamSourceType.STORE


def row(store: str, team: str, kind: TeamSourceType = STORE) -> TeamMapping:
    return TeamMapping(source_type=kind, source_id=store, team_id=team)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], "create"),
        ([row("0042", "T1")], None),
        ([row("0042", "t1")], None),  # GUIDs compare case-insensitively
        ([row("0043", "T9")], "create"),  # another store's row says nothing about this one
        ([row("0042", "T1", TeamSourceType.REGION)], "create"),  # only RetailStore rows map stores
        ([row("0042", "T2")], "conflict"),
        ([row("0042", "T2"), row("0042", "T1")], None),
    ],
)
def test_what_is_written_for_a_store_and_its_team(rows: list[TeamMapping], expected: str | None) -> None:
    decision = mapping_write("0042", "T1", rows)
    if expected is None:
        assert decision is None
    elif expected == "create":
        assert isinstance(decision, MappingWrite)
        assert decision.row == row("0042", "T1")
    else:
        assert not isinstance(decision, MappingWrite) and decision is not None
        assert decision.kind is ProblemKind.MAPPING_CONFLICT and "T2" in decision.detail


@given(
    st.lists(
        st.builds(row, st.sampled_from(["0041", "0042"]), st.sampled_from(["T1", "T2", "T3"])), max_size=4
    ),
    st.sampled_from(["T1", "T2", "T3"]),
)
def test_writing_what_it_asks_for_makes_the_next_decision_a_no_op(rows: list[TeamMapping], team: str) -> None:
    decision = mapping_write("0042", team, rows)
    if isinstance(decision, MappingWrite):
        assert mapping_write("0042", team, [*rows, decision.row]) is None  # idempotent
    elif decision is not None:  # a conflict never overwrites: the rows stay as they are
        assert any(r.source_id == "0042" and r.team_id != team for r in rows)
