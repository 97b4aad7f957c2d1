"""Role tags (shared/provisioning/tags.py): Commerce job -> Teams tag on the store team."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from provisioning_builders import SETTINGS, TODAY, at, identities, org, store, team, uid

from shared.domain import (
    ActualState,
    ActualTeam,
    AddTagMember,
    CreateTag,
    DeleteTag,
    RemoveTagMember,
    Tag,
    TeamKey,
)
from shared.provisioning import apply, desired, plan
from shared.provisioning.tags import desired_tags, tag_ops

KEY = TeamKey.store("0042")
ROLE_TAGS = {"Shift lead": "Shift leads", "Cashier": "Cashiers"}
S = SETTINGS.model_copy(update={"role_tags": ROLE_TAGS})


def test_people_are_tagged_by_their_job_at_the_store_and_only_if_they_are_in_the_team() -> None:
    assignments = [
        at("100", "0042", manager=True),
        at("200", "0042", job="Shift lead"),
        at("201", "0042", job="shift LEAD"),  # jobs compare case-insensitively
        at("300", "0042", job="Cashier"),
        at("400", "0042", job="Cashier"),  # not in the team (unresolved): not tagged
    ]
    got = desired_tags(ROLE_TAGS, assignments, {pn: uid(pn) for pn in ("100", "200", "201", "300")},
                       [uid("100"), uid("200"), uid("201"), uid("300")])  # fmt: skip
    assert got == {"Shift leads": {uid("200"), uid("201")}, "Cashiers": {uid("300")}}


def test_the_store_team_wants_every_configured_tag_even_when_empty() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("200", "0042", job="Shift lead")])
    want = desired(the_org, S, identities("100", "200"), TODAY)
    assert want.teams["store:0042"].tags == {"Shift leads": {uid("200")}, "Cashiers": frozenset()}


def test_a_new_team_gets_its_tags_after_its_members() -> None:
    the_org = org([store("0042")], [at("100", "0042", manager=True), at("200", "0042", job="Shift lead")])
    p = plan(desired(the_org, S, identities("100", "200"), TODAY), ActualState(), S)
    ops = [op.op for op in p.operations]
    assert ops.index("create_tag") > ops.index("add_members")
    [create] = [op for op in p.operations if isinstance(op, CreateTag)]
    assert (create.name, create.user_ids, create.team_id) == ("Shift leads", (uid("200"),), None)


def test_tags_follow_role_changes_and_hand_made_tags_are_left_alone() -> None:
    t = team("T1", owners=[uid("100")], members=[uid("200"), uid("300")]).model_copy(
        update={
            "tags": (
                Tag(tag_id="g1", name="shift leads", members={uid("300"): "m300"}),
                Tag(tag_id="g2", name="Cashiers", members={uid("200"): "m200"}),
                Tag(tag_id="g3", name="Coffee club", members={uid("200"): "m2"}),
            )
        }
    )
    ops = tag_ops(KEY, {"Shift leads": frozenset({uid("200")}), "Cashiers": frozenset()}, t)
    assert ops == [
        DeleteTag(key=KEY, team_id="T1", tag_id="g2", reason="nobody has the role of tag 'Cashiers'"),
        AddTagMember(key=KEY, team_id="T1", tag_id="g1", user_id=uid("200"),
                     reason="has the role of tag 'Shift leads' in Commerce"),
        RemoveTagMember(key=KEY, team_id="T1", tag_id="g1", member_id="m300", user_id=uid("300"),
                        reason="no longer has the role of tag 'Shift leads' in Commerce"),
    ]  # fmt: skip


def test_tags_not_read_mean_no_tag_operation() -> None:
    assert tag_ops(KEY, {"Shift leads": frozenset({uid("200")})}, team("T1", owners=[uid("100")])) == []


people = [uid(str(i)) for i in range(6)]
tag_states = st.lists(
    st.builds(
        Tag,
        tag_id=st.sampled_from(["g1", "g2", "g3"]),
        name=st.sampled_from(["Shift leads", "Cashiers", "Hand made"]),
        members=st.dictionaries(st.sampled_from(people), st.just("m"), max_size=4),
    ),
    max_size=3,
    unique_by=(lambda t: t.tag_id, lambda t: t.name),
)
wants = st.fixed_dictionaries(
    {
        "Shift leads": st.frozensets(st.sampled_from(people)),
        "Cashiers": st.frozensets(st.sampled_from(people)),
    }
)


@given(tag_states, wants)
def test_applying_the_tag_operations_gives_the_desired_tags_and_a_second_plan_is_empty(tags, want) -> None:  # type: ignore[no-untyped-def]
    t = team("T1", owners=[people[0]], members=people[1:]).model_copy(update={"tags": tuple(tags)})
    have = ActualState(teams={str(KEY): ActualTeam(key=KEY, team=t, managed_user_ids=frozenset(people))})
    p = plan_of(tag_ops(KEY, want, t))
    after = apply(p, have, new_team_id=lambda k: "new").teams[str(KEY)].team
    assert after is not None and after.tags is not None
    got = {tag.name: frozenset(tag.members) for tag in after.tags}
    for name, users in want.items():
        assert got.get(name, frozenset()) == users
    assert {n: m for n, m in got.items() if n not in want} == {
        tag.name: frozenset(tag.members) for tag in tags if tag.name not in want
    }  # hand-made tags untouched
    assert tag_ops(KEY, want, after) == []


def plan_of(ops):  # type: ignore[no-untyped-def]
    from shared.domain import Plan

    return Plan(operations=tuple(ops))
