"""Priority, checklist and link (shared/tasks/fields.py): the pure mappings as tables and
Hypothesis properties, and what the decision writes for them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tasks_sim import DEFINITION, make_context, make_store_task

from shared.domain.planner import ChecklistItem
from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskDefinition, TaskPriority, TaskStatus
from shared.tasks import (
    CreatePlannerTask,
    Decision,
    MirrorContext,
    PairStatus,
    PlannerSide,
    ReportKind,
    UpdatePlannerDetails,
    UpdatePlannerFields,
    decide,
    desired_planner_task,
)
from shared.tasks.fields import (
    CHECKLIST_MAX,
    PLANNER_PRIORITY,
    checklist_change,
    checklist_of,
    item_id,
    link_reference,
    planner_priority,
    priority_class,
    reference_change,
    split_notes,
    url_of_reference,
)
from shared.tasks.state import text_hash

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
priorities = st.sampled_from(list(TaskPriority))
planner_values = st.integers(0, 10)


def ctx_with(**definition: object) -> MirrorContext:
    return make_context(definition=DEFINITION.model_copy(update=definition))


def synced(
    ctx: MirrorContext, task: StoreTask | None = None, **planner: object
) -> tuple[PlannerTaskView, PairStatus]:
    """A Planner task showing what Commerce wants (then `planner` changes applied), and the status
    recorded when it last showed exactly what Commerce wants."""
    task = task or make_store_task()
    want = desired_planner_task(task, ctx)
    base = PlannerTaskView(
        task_id="p1", plan_id="plan-42", etag='W/"p1"', title=want.title, bucket_name=want.bucket,
        due=want.due, percent_complete=0, priority=want.priority if want.priority is not None else 5,
        description=want.description, details_etag='W/"d1"', observed_at=NOW,
    )  # fmt: skip
    side = PlannerSide.seen(base)
    status = PairStatus(
        key=task.key,
        plan_id="plan-42",
        commerce=None,
        planner=side.model_copy(update={"description_hash": text_hash(want.description)}),
    )
    view = base.model_copy(update={"etag": 'W/"p2"', **planner}) if planner else base
    return view, status


def fields_of(decision: Decision) -> UpdatePlannerFields | None:
    return next((a for a in decision.actions if isinstance(a, UpdatePlannerFields)), None)


@pytest.mark.parametrize(
    ("value", "klass"),
    [(0, "urgent"), (1, "urgent"), (2, "important"), (3, "important"), (4, "important"), (5, "medium"),
     (7, "medium"), (8, "low"), (9, "low"), (10, "low"), (None, "medium")],
)  # fmt: skip
def test_planner_priority_classes(value: int | None, klass: str) -> None:
    assert priority_class(value) is TaskPriority(klass)


def test_commerce_priorities_become_the_values_planner_writes() -> None:
    assert {p.value: planner_priority(p) for p in TaskPriority} == {
        "urgent": 1, "important": 3, "medium": 5, "low": 9,
    }  # fmt: skip
    with pytest.raises(ValueError):
        priority_class(11)


@given(priorities)
def test_priority_round_trips_commerce_to_planner_and_back(priority: TaskPriority) -> None:
    assert priority_class(planner_priority(priority)) is priority


@given(planner_values)
def test_any_planner_value_maps_to_a_canonical_value_of_the_same_class(value: int) -> None:
    canonical = planner_priority(priority_class(value))
    assert canonical in PLANNER_PRIORITY.values()
    assert priority_class(canonical) is priority_class(value)
    assert planner_priority(priority_class(canonical)) == canonical  # idempotent


def test_a_new_task_carries_commerces_priority() -> None:
    decision = decide(make_store_task(), None, None, ctx_with(priority=TaskPriority.URGENT))
    create = decision.actions[0]
    assert isinstance(create, CreatePlannerTask) and create.task.priority == 1
    plain = decide(make_store_task(), None, None, make_context()).actions[0]
    assert isinstance(plain, CreatePlannerTask) and plain.task.priority is None  # Planner's default


@given(commerce=st.none() | priorities, teams=planner_values)
def test_planner_gets_commerces_priority_class_and_nothing_else_is_written_for_it(
    commerce: TaskPriority | None, teams: int
) -> None:
    ctx = ctx_with(priority=commerce)
    view, status = synced(ctx, priority=teams)
    fields = fields_of(decide(make_store_task(), view, status, ctx))
    if commerce is None or priority_class(teams) is commerce:
        assert fields is None or fields.priority is None  # same class (or Commerce sets none): left
    else:
        assert fields is not None and fields.priority == planner_priority(commerce)


def test_a_priority_changed_in_teams_is_set_back_and_reported() -> None:
    ctx = ctx_with(priority=TaskPriority.LOW)
    view, status = synced(ctx, priority=1)
    decision = decide(make_store_task(), view, status, ctx)
    fields = fields_of(decision)
    assert fields is not None and fields.priority == 9 and fields.fields == ("priority",)
    (report,) = [r for r in decision.reports if r.kind is ReportKind.OWNED_FIELD_OVERWRITTEN]
    assert report.fields == ("priority",)
    assert decision.status is not None and decision.status.planner is not None
    assert decision.status.planner.priority == 9


def test_a_priority_changed_in_commerce_is_written_without_a_teams_report() -> None:
    old = ctx_with(priority=TaskPriority.LOW)
    view, status = synced(old)
    new = ctx_with(priority=TaskPriority.IMPORTANT)
    decision = decide(make_store_task(), view, status, new)
    fields = fields_of(decision)
    assert fields is not None and fields.priority == 3
    assert not [r for r in decision.reports if r.kind is ReportKind.OWNED_FIELD_OVERWRITTEN]


def test_teams_two_and_commerce_important_agree() -> None:
    ctx = ctx_with(priority=TaskPriority.IMPORTANT)
    view, status = synced(ctx, priority=2)
    assert fields_of(decide(make_store_task(status=TaskStatus.NOT_STARTED), view, status, ctx)) is None


def test_definitions_without_priority_are_valid() -> None:
    assert TaskDefinition(task_list="TL", id="1", name="x").priority is None


# -- checklist <-> the notes' steps ---------------------------------------------------------------
titles = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30)
    .map(str.strip)
    .filter(lambda t: t != "" and not t.startswith("["))
)


def test_steps_in_the_notes_become_checklist_items_and_leave_the_description() -> None:
    notes = "Before the store opens.\n- [ ] Count the till\n* [x] Lock the safe\n-[ ] Sign the sheet\nThanks"
    text, steps = split_notes(notes)
    assert steps == ("Count the till", "Lock the safe", "Sign the sheet")
    assert text == "Before the store opens.\nThanks"
    task = make_store_task(notes=notes)
    want = desired_planner_task(task, make_context())
    assert [t for _, t in want.checklist.items] == list(steps)
    assert "Count the till" not in want.description and "Before the store opens." in want.description


@given(text=st.lists(titles, max_size=3), steps=st.lists(titles, max_size=25))
def test_notes_round_trip_through_text_and_steps(text: list[str], steps: list[str]) -> None:
    notes = "\n".join([*text, *(f"- [ ] {s}" for s in steps)])
    assert split_notes(notes) == ("\n".join(text).strip(), tuple(steps))


def _all_ids(key: str, steps: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for t in steps:
        out.append(item_id(key, t, seen.get(t, 0)))
        seen[t] = seen.get(t, 0) + 1
    return out


@given(steps=st.lists(titles, max_size=30), extra=titles, at=st.integers(0, 30))
def test_item_ids_are_distinct_and_a_step_keeps_its_id_when_others_change(
    steps: list[str], extra: str, at: int
) -> None:
    key = "TL-7/1@0042"
    before = checklist_of(key, tuple(steps))
    assert [i for i, _ in before.items] == _all_ids(key, steps)[:CHECKLIST_MAX]
    assert len(set(_all_ids(key, steps))) == len(steps)
    assert [t for _, t in before.items] + list(before.overflow) == steps
    inserted = [*steps[:at], extra, *steps[at:]]
    kept = {i for i, t in zip(_all_ids(key, steps), steps, strict=True) if t != extra}
    assert kept <= set(_all_ids(key, inserted))
    assert set(_all_ids("TL-7/1@0043", steps)).isdisjoint(_all_ids(key, steps))


def _apply(have: list[ChecklistItem], change: Any) -> dict[str, ChecklistItem]:
    out = {i.item_id: i for i in have if i.item_id not in change.removals}
    out.update({i.item_id: i for i in change.upserts})
    return out


people_items = st.lists(
    st.builds(ChecklistItem, item_id=st.uuids().map(str), title=titles, is_checked=st.booleans()), max_size=8
)


@given(
    old=st.lists(titles, max_size=12, unique=True),
    new=st.lists(titles, max_size=12, unique=True),
    people=people_items,
    ticked=st.sets(st.integers(0, 11)),
    retitled=st.sets(st.integers(0, 11)),
)
def test_after_the_change_the_task_shows_commerces_steps_and_keeps_ticks_and_peoples_items(
    old: list[str], new: list[str], people: list[ChecklistItem], ticked: set[int], retitled: set[int]
) -> None:
    key = "TL-7/1@0042"
    before = checklist_of(key, tuple(old))
    # What Teams shows: our old steps (some ticked, some retitled by a person) + people's items.
    have = [
        ChecklistItem(item_id=i, title=f"{t} (edited)" if n in retitled else t, is_checked=n in ticked)
        for n, (i, t) in enumerate(before.items)
    ] + people
    want = checklist_of(key, tuple(new))
    change = checklist_change(want, tuple(have), before.ids)
    after = _apply(have, change)
    assert len(after) <= CHECKLIST_MAX
    ours = {i: after[i] for i in want.ids if i in after}
    assert all(after[i].title == t for i, t in want.items if i in after)
    assert len(ours) + change.dropped == len(want.items)
    for n, (i, _) in enumerate(before.items):  # a step Commerce still has keeps its tick
        if i in want.ids and i in after:
            assert after[i].is_checked == (n in ticked)
        if i not in want.ids:
            assert i not in after  # Commerce dropped it
    assert all(after.get(p.item_id) == p for p in people)  # people's items untouched
    assert checklist_change(want, tuple(after.values()), want.ids & after.keys()).empty  # converged


def test_only_twenty_items_fit_the_rest_are_reported_and_stay_in_the_description() -> None:
    notes = "\n".join(f"- [ ] step {n}" for n in range(23))
    want = desired_planner_task(make_store_task(notes=notes), make_context())
    assert len(want.checklist.items) == CHECKLIST_MAX and want.checklist.overflow == (
        "step 20",
        "step 21",
        "step 22",
    )
    assert "- [ ] step 22" in want.description and "- [ ] step 3\n" not in want.description
    assert any("MaximumChecklistItemsOnTask" in p for p in want.problems)
    people = tuple(ChecklistItem(item_id=f"p{n}", title=f"mine {n}") for n in range(18))
    change = checklist_change(want.checklist, people, None)
    assert len(change.upserts) == 2 and change.dropped == CHECKLIST_MAX - 2


def test_a_new_task_gets_the_steps_and_the_link() -> None:
    task = make_store_task(notes="Open up.\n- [ ] Lights on\n- [ ] Doors open")
    create = decide(task, None, None, make_context()).actions[0]
    assert isinstance(create, CreatePlannerTask)
    assert [t for _, t in create.task.checklist.items] == ["Lights on", "Doors open"]
    assert create.task.reference == "https%3A//contoso%2Eexample/tasks/count-safe"


def test_a_step_deleted_or_retitled_in_teams_is_put_back_and_reported_its_tick_kept() -> None:
    ctx = make_context()
    task = make_store_task(notes="- [ ] Lights on\n- [ ] Doors open")
    want = desired_planner_task(task, ctx)
    (lights, _), (doors, _) = want.checklist.items
    view, status = synced(
        ctx,
        task,
        checklist=(ChecklistItem(item_id=lights, title="Lights ON!", is_checked=True),),
        reference_keys=frozenset({want.reference or ""}),
    )
    status = status.model_copy(
        update={"planner": status.planner.model_copy(update={"checklist_ids": want.checklist.ids,  # type: ignore[union-attr]
                                                             "reference": want.reference})}
    )  # fmt: skip
    decision = decide(task, view, status, ctx)
    (details,) = [a for a in decision.actions if isinstance(a, UpdatePlannerDetails)]
    assert details.description is None  # unchanged: not sent
    assert {(i.item_id, i.title, i.is_checked) for i in details.checklist} == {
        (lights, "Lights on", True), (doors, "Doors open", False)
    }  # fmt: skip
    (report,) = [r for r in decision.reports if r.kind is ReportKind.OWNED_FIELD_OVERWRITTEN]
    assert report.fields == ("checklist",)


def test_a_step_removed_in_commerce_is_removed_and_peoples_items_stay() -> None:
    ctx = make_context()
    old = desired_planner_task(make_store_task(notes="- [ ] Lights on\n- [ ] Doors open"), ctx)
    task = make_store_task(notes="- [ ] Lights on")
    items = tuple(ChecklistItem(item_id=i, title=t) for i, t in old.checklist.items)
    mine = ChecklistItem(item_id="p-1", title="Water the plants")
    view, status = synced(
        ctx,
        make_store_task(notes="- [ ] Lights on\n- [ ] Doors open"),
        checklist=(*items, mine),
        reference_keys=frozenset({old.reference or ""}),
    )
    status = status.model_copy(
        update={"planner": status.planner.model_copy(update={"checklist_ids": old.checklist.ids,  # type: ignore[union-attr]
                                                             "reference": old.reference})}
    )  # fmt: skip
    decision = decide(task, view, status, ctx)
    (details,) = [a for a in decision.actions if isinstance(a, UpdatePlannerDetails)]
    assert details.remove_checklist == {old.checklist.items[1][0]} and details.checklist == ()
    assert not [r for r in decision.reports if r.kind is ReportKind.OWNED_FIELD_OVERWRITTEN]
    assert decision.status is not None and decision.status.planner is not None
    assert decision.status.planner.checklist_ids == {old.checklist.items[0][0]}


# -- the task link as a reference -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("link", "key"),
    [
        ("https://contoso.sharepoint.com/teams/agile/documents/AnnualReport.pptx",
         # the example of the Graph docs:
         "https%3A//contoso%2Esharepoint%2Ecom/teams/agile/documents/AnnualReport%2Epptx"),
        ("http://a.example/x?y=1#top", "http%3A//a%2Eexample/x?y=1%23top"),
        ("https://u@a.example/100%", "https%3A//u%40a%2Eexample/100%25"),
        ("POS operation 1400", None),
        ("RetailStoreTable", None),
        (None, None),
    ],
)  # fmt: skip
def test_url_task_links_become_encoded_reference_keys(link: str | None, key: str | None) -> None:
    assert link_reference(link) == key


@given(st.text(min_size=1, max_size=60).filter(lambda t: not any(c.isspace() for c in t)))
def test_reference_keys_decode_back_and_never_hold_the_forbidden_characters(rest: str) -> None:
    url = "https://" + rest
    key = link_reference(url)
    assert key is not None and url_of_reference(key) == url
    assert not any(c in key for c in ".:@#")
    assert all(key[i + 1 : i + 3] in {"25", "2E", "3A", "40", "23"} for i, c in enumerate(key) if c == "%")


@given(
    want=st.none() | st.sampled_from(["a", "b"]),
    ours=st.none() | st.sampled_from(["a", "b"]),
    people=st.sets(st.sampled_from(["p", "q", "r"])),
    present=st.sets(st.sampled_from(["a", "b"])),
)
def test_the_link_reference_converges_and_leaves_peoples_references(
    want: str | None, ours: str | None, people: set[str], present: set[str]
) -> None:
    have = frozenset(people | present)
    change = reference_change(want, have, ours)
    after = (have - {change.remove}) | ({change.add} if change.add else set())
    assert people <= after
    if want is not None:
        assert want in after
    if ours is not None and ours != want:
        assert ours not in after
    assert reference_change(want, frozenset(after), want).empty
