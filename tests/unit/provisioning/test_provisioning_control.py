"""The kill switch and opt-out rule (shared/provisioning/control.py): a decision table for who is
closed and why, and properties over generated plans: a closed key writes nothing, loses nothing
from its report, and lifting the gate gives back exactly the plan it held."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_provisioning_properties import scenarios

from shared.domain import ProblemKind, TeamKey, TeamKind
from shared.provisioning.control import WriteGate, closed_for, gated

STORE = TeamKey.store("0042")
REGION = TeamKey(kind=TeamKind.REGION, id="R1")
COMMS = TeamKey(kind=TeamKind.COMMUNICATIONS, id="all")


@pytest.mark.parametrize(
    ("key", "places", "gate", "expected"),
    [
        (STORE, ("R1", None), WriteGate(), None),
        (STORE, ("R1", None), WriteGate(suspended=True, reason="audit"), ProblemKind.SUSPENDED),
        (COMMS, (), WriteGate(suspended=True), ProblemKind.SUSPENDED),
        (STORE, ("R1", None), WriteGate(excluded_stores=frozenset({"0042"})), ProblemKind.EXCLUDED),
        (STORE, ("R1", None), WriteGate(excluded_stores=frozenset({"0043"})), None),
        (STORE, ("R1", "D7"), WriteGate(excluded_regions=frozenset({"D7"})), ProblemKind.EXCLUDED),
        (STORE, ("R1", None), WriteGate(excluded_regions=frozenset({"R1"})), ProblemKind.EXCLUDED),
        (STORE, (None, None), WriteGate(excluded_regions=frozenset({"R1"})), None),
        (REGION, ("R1",), WriteGate(excluded_regions=frozenset({"R1"})), ProblemKind.EXCLUDED),
        (
            TeamKey(kind=TeamKind.REGION, id="R2"),
            ("R2",),
            WriteGate(excluded_regions=frozenset({"R1"})),
            None,
        ),
        # the communications team spans every region: a region opt-out does not close it
        (COMMS, (), WriteGate(excluded_regions=frozenset({"R1"}), excluded_stores=frozenset({"0042"})), None),
        # the switch wins over an exclusion (the reason people see is the switch)
        (
            STORE,
            ("R1", None),
            WriteGate(suspended=True, excluded_stores=frozenset({"0042"})),
            ProblemKind.SUSPENDED,
        ),
    ],
)
def test_who_is_closed_to_writes_and_why(
    key: TeamKey, places: tuple[str | None, ...], gate: WriteGate, expected: ProblemKind | None
) -> None:
    problem = closed_for(key, places, gate)
    assert (problem.kind if problem else None) is expected
    if problem is not None:
        assert problem.team_key == str(key)
        assert problem.store == (key.id if key.kind is TeamKind.STORE else None)


def test_the_suspension_reason_is_in_what_people_read() -> None:
    problem = closed_for(STORE, (), WriteGate(suspended=True, reason="suspended by ana: month-end audit"))
    assert problem is not None and "month-end audit" in problem.detail


gates = st.builds(
    WriteGate,
    suspended=st.booleans(),
    excluded_stores=st.frozensets(st.sampled_from(["0001", "0002", "0003", "0004", "0005"])),
    excluded_regions=st.frozensets(st.sampled_from(["R1", "R2"])),
)


@settings(max_examples=100, deadline=None)
@given(scenarios(), gates)
def test_a_closed_key_writes_nothing_and_reports_everything_it_would_do(sc, gate: WriteGate) -> None:  # type: ignore[no-untyped-def]
    for key_text in sc.want.teams:
        key = TeamKey.parse(key_text)
        store = sc.org.store(key.id) if key.kind is TeamKind.STORE else None
        places = (
            (store.region, store.district) if store else ((key.id,) if key.kind is TeamKind.REGION else ())
        )
        problem = closed_for(key, places, gate)
        p = gated(sc.plan, problem)
        if problem is None or not sc.plan.operations:
            assert p == sc.plan
            continue
        assert p.operations == ()
        assert p.held == (*sc.plan.held, *sc.plan.operations)  # every write still reported, in order
        assert set(sc.plan.problems) < set(p.problems) and problem in p.problems
