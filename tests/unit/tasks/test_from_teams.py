"""Tasks made in Teams becoming Commerce tasks: which unmirrored task becomes a new pair, by
`tasks.from_teams` and origin (shared/tasks/origin.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.ids import commerce_id_problem
from shared.domain.planner import PlannerTask, PlannerTaskDetails, TeamsPublication
from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskStatus
from shared.mirror.keys import PairKey
from shared.settings import FromTeams
from shared.tasks import CommerceSide, KeepTombstone, MirrorContext, Outcome, PairStatus, PlannerSide, decide
from shared.tasks.actions import (
    DeletePlannerTask,
    ReportKind,
    UpdatePlannerDetails,
    UpdatePlannerFields,
    WriteCommerceStatus,
)
from shared.tasks.decision import Decision
from shared.tasks.origin import (
    FROM_TEAMS_LIST,
    OriginKind,
    admit,
    is_teams_key,
    keep_published,
    kind_of,
    plans_for_teams_tasks,
    possible_kinds,
    teams_candidates,
    teams_pair_key,
    teams_task_id,
)

PUB = TeamsPublication(publication_id="pub-1", publication_name="Spring launch", publishing_team_id="hq")


def task(n: int, *, by: str | None = None, published: bool = False, plan: str = "p") -> PlannerTask:
    return PlannerTask(
        task_id=f"t{n}",
        plan_id=plan,
        title=f"task {n}",
        created_by=by,
        publication=PUB if published else None,
    )


ANNA, BEN = "user-anna", "user-ben"  # Entra users; Anna is the store's manager (000321)
MANAGERS = frozenset({"000321"})

# origin x setting x creator -> created?
TABLE = [
    # published: taken with `published`/`all`, whoever published it (unmapped creator: none recorded)
    ("published", FromTeams.PUBLISHED, "000999", True),
    ("published", FromTeams.ALL, None, True),
    ("published", FromTeams.ADHOC, "000321", False),
    ("published", FromTeams.OFF, "000321", False),
    # ad hoc: only from a manager of the store, with `adhoc`/`all`
    ("adhoc", FromTeams.ADHOC, "000321", True),
    ("adhoc", FromTeams.ALL, "000321", True),
    ("adhoc", FromTeams.ADHOC, "000322", False),  # a worker, not a manager
    ("adhoc", FromTeams.ALL, None, False),  # a Teams user who is no Commerce worker
    ("adhoc", FromTeams.PUBLISHED, "000321", False),
    # made by an application (this app's own tasks, an interrupted create's orphan): never
    ("app", FromTeams.ALL, None, False),
]


@pytest.mark.parametrize(("origin", "setting", "creator", "created"), TABLE)
def test_which_task_made_in_teams_becomes_a_commerce_task(
    origin: str, setting: FromTeams, creator: str | None, created: bool
) -> None:
    t = task(1, by=None if origin == "app" else ANNA, published=origin == "published")
    answer = admit(t, "0042", setting, creator=creator, managers=MANAGERS)
    assert answer.create is created, answer.reason
    if created:
        assert answer.created_by == creator
        assert answer.kind is (OriginKind.PUBLISHED if origin == "published" else OriginKind.ADHOC)
    assert answer.reason


def test_a_declined_ad_hoc_task_says_why() -> None:
    worker = admit(task(1, by=BEN), "0042", FromTeams.ALL, creator="000322", managers=MANAGERS)
    assert "not a manager of store 0042" in worker.reason
    stranger = admit(task(1, by=BEN), "0042", FromTeams.ALL, creator=None, managers=MANAGERS)
    assert "no Commerce worker" in stranger.reason


def test_the_pair_key_is_derived_from_the_planner_task_id() -> None:
    key = teams_pair_key("AbC-_123xyz", "0042")
    assert key == teams_pair_key("AbC-_123xyz", "0042")
    assert key != teams_pair_key("abc-_123xyz", "0042")  # Planner ids are case-sensitive
    parsed = PairKey.parse(key)
    assert (parsed.task_list, parsed.store) == (FROM_TEAMS_LIST, "0042")
    assert parsed.task == teams_task_id("AbC-_123xyz") and is_teams_key(key)
    assert not is_teams_key("TL-7/1@0042")


@given(st.text(min_size=1, max_size=60))
def test_every_planner_id_gives_a_valid_case_insensitive_commerce_id(planner_id: str) -> None:
    task_id = teams_task_id(planner_id)
    assert commerce_id_problem(task_id) is None and task_id == task_id.lower().replace("p", "P", 1)
    assert str(PairKey.parse(teams_pair_key(planner_id, "0042"))) == teams_pair_key(planner_id, "0042")


def _listed() -> dict[str, list[PlannerTask]]:
    return {
        "p": [task(1, by=ANNA), task(2, published=True), task(3), task(4, by=BEN, published=True)],
        "elsewhere": [task(9, by=ANNA, plan="elsewhere")],  # a plan of no known store
    }


def test_the_poll_offers_unmirrored_tasks_of_store_plans_by_what_they_may_be() -> None:
    stores = {"p": "0042"}
    beta = teams_candidates(_listed(), stores, [], [], FromTeams.PUBLISHED, origin_known=True)
    assert [c.planner_task_id for c in beta] == sorted(["t2", "t4"], key=lambda t: teams_pair_key(t, "0042"))
    # v1.0 shows no creationSource: a person's task may be published, an app's task too.
    v1_listing = {p: [t.model_copy(update={"publication": None}) for t in ts] for p, ts in _listed().items()}
    v1 = teams_candidates(v1_listing, stores, [], [], FromTeams.PUBLISHED, origin_known=False)
    assert {c.planner_task_id for c in v1} == {"t1", "t2", "t3", "t4"}
    adhoc = teams_candidates(v1_listing, stores, [], [], FromTeams.ADHOC, origin_known=False)
    assert {c.planner_task_id for c in adhoc} == {"t1", "t4"}  # an app's task is never ad hoc
    assert teams_candidates(_listed(), stores, [], [], FromTeams.OFF, origin_known=True) == ()
    assert all(c.store == "0042" and c.plan_id == "p" for c in v1)


def test_mirrored_and_already_answered_tasks_are_not_offered_again() -> None:
    stores = {"p": "0042"}
    known = [teams_pair_key("t2", "0042")]
    found = teams_candidates(_listed(), stores, ["t1"], known, FromTeams.ALL, origin_known=True)
    assert {c.planner_task_id for c in found} == {"t4"}


tasks_strategy = st.lists(
    st.builds(
        lambda n, by, pub: task(n, by=by, published=pub),
        st.integers(0, 30),
        st.sampled_from([None, ANNA, BEN]),
        st.booleans(),
    ),
    max_size=12,
    unique_by=lambda t: t.task_id,
)


@given(tasks_strategy, st.sampled_from(list(FromTeams)), st.sets(st.integers(0, 30)))
def test_the_poll_never_drops_a_task_the_pass_would_take(
    tasks: list[PlannerTask], setting: FromTeams, mirrored: set[int]
) -> None:
    """Stage 1 (poll, maybe v1.0) offers a superset of what stage 2 (beta read) may create, and
    nothing mirrored; knowing the origin only ever narrows it."""
    mirrored_ids = [f"t{n}" for n in mirrored]
    v1_tasks = [t.model_copy(update={"publication": None}) for t in tasks]  # v1.0: no creationSource
    v1 = teams_candidates({"p": v1_tasks}, {"p": "0042"}, mirrored_ids, [], setting, origin_known=False)
    beta = teams_candidates({"p": tasks}, {"p": "0042"}, mirrored_ids, [], setting, origin_known=True)
    assert set(beta) <= set(v1)
    offered = {c.planner_task_id for c in v1}
    assert not offered & set(mirrored_ids)
    for t in tasks:
        admitted = admit(t, "0042", setting, creator="000321", managers=MANAGERS).create
        if admitted and t.task_id not in mirrored_ids:
            assert t.task_id in offered and t.task_id in {c.planner_task_id for c in beta}
        stripped = t.model_copy(update={"publication": None})
        assert kind_of(t) in possible_kinds(stripped, origin_known=False) | {None}


def test_store_plans_are_polled_only_when_tasks_made_in_teams_are_wanted() -> None:
    plans = {"0042": "p1", "0043": "p2"}
    assert plans_for_teams_tasks(plans, FromTeams.OFF) == ()
    assert plans_for_teams_tasks(plans, FromTeams.ADHOC) == ("p1", "p2")


def test_a_canceled_published_task_is_left_in_teams() -> None:
    key = teams_pair_key("t1", "0042")
    decision = Decision(
        key=key,
        outcome=Outcome.TOMBSTONED,
        actions=(DeletePlannerTask(key=key, task_id="t1", if_match='W/"x"'), KeepTombstone(key=key)),
        status=None,
    )
    kept = keep_published(decision)
    assert not any(isinstance(a, DeletePlannerTask) for a in kept.actions)
    assert any(isinstance(a, KeepTombstone) for a in kept.actions) and kept.reports


@given(st.booleans(), st.sampled_from(["New title", "task 1"]), st.integers(0, 100))
def test_a_task_made_in_teams_keeps_its_own_title_due_bucket_and_description(
    edited_details: bool, title: str, percent: int
) -> None:
    """Commerce-owned fields of ordinary pairs are Teams' for a task made in Teams: whatever Teams
    shows, the decision never writes them (status still travels both ways)."""
    key = teams_pair_key("t1", "0042")
    parsed = PairKey.parse(key)
    row = StoreTask(task_list=parsed.task_list, task=parsed.task, store="0042", name="task 1", etag='W/"c1"')
    planner = PlannerTask(
        task_id="t1", plan_id="p", title=title, percent_complete=percent, etag='W/"p2"',
        due=datetime(2030, 3, 10, 20, tzinfo=UTC),
    )  # fmt: skip
    details = PlannerTaskDetails(
        task_id="t1", description="call the locksmith" if edited_details else "", etag="d"
    )
    view = PlannerTaskView.of(planner, observed_at=datetime.now(UTC), bucket_name="Doors", details=details)
    seen = PlannerSide.make(
        task_id="t1", etag='W/"p1"', status=TaskStatus.NOT_STARTED, assignee_ids=frozenset(), title="task 1",
        bucket=None, due=None, description_hash=None,
    )  # fmt: skip
    status = PairStatus(key=key, plan_id="p", commerce=CommerceSide.seen(row), planner=seen)
    ctx = MirrorContext(plan_id="p", teams_origin=True)
    decision = decide(row, view, status, ctx)
    for action in decision.actions:
        assert not isinstance(action, UpdatePlannerDetails)
        if isinstance(action, UpdatePlannerFields):
            assert action.title is None and action.bucket is None and action.due is None
    assert not [r for r in decision.reports if r.kind is ReportKind.OWNED_FIELD_OVERWRITTEN]
    if percent >= 100:  # completed in Teams -> Commerce
        assert any(isinstance(a, WriteCommerceStatus) for a in decision.actions)
