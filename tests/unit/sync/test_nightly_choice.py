"""The nightly reconciliation reads only the teams that changed, and every team that did."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.plan import DesiredTeam
from shared.domain.subscriptions import GroupDelta, MemberChange
from shared.domain.teams import TeamKey
from shared.sync.nightly import ABSENT, Recorded, choose, fingerprint


def team(n: int, owners: set[str], members: set[str], name: str | None = None) -> DesiredTeam:
    return DesiredTeam(
        key=TeamKey.store(f"{n:04d}"),
        display_name=name or f"Store {n}",
        mail_nickname=f"store-{n:04d}",
        owners=frozenset(owners),
        members=frozenset(members),
    )


WANT = {
    "store:0001": team(1, {"m1"}, {"w1", "w2"}),
    "store:0002": team(2, {"m2"}, {"w3"}),
    "store:0003": team(3, {"m3"}, set()),
}
CONVERGED = {k: Recorded(team_id=f"g{k[-1]}", desired_hash=fingerprint(t)) for k, t in WANT.items()}


def test_a_converged_org_with_no_changes_reads_no_team() -> None:
    choice = choose(WANT, WANT, CONVERGED, GroupDelta())
    assert choice.read == {} and choice.unchanged == 3


def test_the_apps_own_changes_echoed_by_the_delta_read_nothing() -> None:
    echo = GroupDelta(
        changed_group_ids=("g1",),
        display_names={"g1": "Store 1"},
        member_changes=(
            MemberChange(group_id="g1", user_id="w2"),
            MemberChange(group_id="g1", user_id="m1", owner=True),
            MemberChange(group_id="g1", user_id="gone", removed=True),
        ),
    )
    assert choose(WANT, WANT, CONVERGED, echo).read == {}


def test_hand_edits_in_teams_read_exactly_those_teams() -> None:
    delta = GroupDelta(
        changed_group_ids=("g1", "g2", "g3", "other"),
        display_names={"g3": "Renamed by hand", "other": "Not ours"},
        member_changes=(
            MemberChange(group_id="g1", user_id="w1", removed=True),  # a wanted member removed
            MemberChange(group_id="g2", user_id="w3", owner=True),  # a member made owner by hand
            MemberChange(group_id="other", user_id="x"),
        ),
    )
    read = choose(WANT, WANT, CONVERGED, delta).read
    assert read == {
        "store:0001": "member removed in Teams",
        "store:0002": "owner added in Teams",
        "store:0003": "team renamed in Teams",
    }


def test_commerce_changes_new_stores_and_unconverged_teams_are_read() -> None:
    moved = {**WANT, "store:0002": team(2, {"m2"}, {"w3", "w9"}), "store:0004": team(4, {"m4"}, set())}
    records = {**CONVERGED, "store:0003": Recorded(team_id="g3", desired_hash=None)}
    choice = choose(moved, moved, records, GroupDelta(removed_group_ids=("g1",)))
    assert choice.read == {
        "store:0001": "team deleted in Teams",
        "store:0002": "changed in Commerce",
        "store:0003": "no fingerprint of its last pass",
        "store:0004": "no team recorded yet",
    }


def test_a_store_closed_since_its_last_pass_is_read() -> None:
    closed = {k: t for k, t in WANT.items() if k != "store:0003"}
    assert choose(WANT, closed, CONVERGED, GroupDelta()).read == {"store:0003": "changed in Commerce"}
    gone = {**CONVERGED, "store:0003": Recorded(team_id="g3", desired_hash=ABSENT)}
    assert choose(WANT, closed, gone, GroupDelta()).read == {}


people = st.sampled_from(["m1", "m2", "w1", "w2", "w3", "x1", "x2"])
changes = st.lists(
    st.builds(MemberChange, group_id=st.sampled_from(["g1", "g2", "g3"]), user_id=people,
              removed=st.booleans(), owner=st.booleans()),
    max_size=12,
)  # fmt: skip


@given(changes)
def test_a_team_is_read_exactly_when_one_of_its_changes_disagrees_with_what_is_wanted(
    delta_changes: list[MemberChange],
) -> None:
    read = choose(WANT, WANT, CONVERGED, GroupDelta(member_changes=tuple(delta_changes))).read
    for key, want in WANT.items():
        group = CONVERGED[key].team_id
        disagrees = any(
            c.removed == (c.user_id in (want.owners if c.owner else want.owners | want.members))
            for c in delta_changes
            if c.group_id == group
        )
        assert (key in read) == disagrees
