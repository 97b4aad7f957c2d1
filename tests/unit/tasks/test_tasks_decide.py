"""The decision table, told as behaviour: each test edits one side (or both) and syncs."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tasks_sim import World, make_context, make_store_task

from shared.domain.tasks import TaskStatus
from shared.settings import TaskSettings
from shared.tasks import (
    CreatePlannerTask,
    Outcome,
    ReportKind,
    UpdatePlannerFields,
    WriteCommerceStatus,
    decide,
)


def synced_world(**ctx: object) -> World:
    world = World(ctx=make_context(**ctx)) if ctx else World()
    assert world.sync().decisions[-1].outcome is Outcome.CREATED
    world.clock.tick()
    assert world.sync().writes == 0
    return world


def reports(world_step: object) -> set[ReportKind]:
    from tasks_sim import StepResult

    assert isinstance(world_step, StepResult)
    return {r.kind for d in world_step.decisions for r in d.reports}


def test_new_store_task_becomes_a_planner_task_in_its_list_bucket() -> None:
    world = World()
    step = world.sync()
    assert isinstance(step.decisions[0].actions[0], CreatePlannerTask)
    (task,) = world.planner.tasks.values()
    assert (task.title, task.bucket, task.percent) == ("Count the safe", "Opening checklist", 0)
    assert task.due == datetime(2024, 3, 10, 19, 0, tzinfo=UTC)  # 10 March noon, PDT
    assert world.status is not None and world.status.planner is not None
    assert world.status.planner.task_id == task.task_id


def test_complete_in_teams_completes_commerce_with_who_and_when() -> None:
    world = synced_world()
    done_at = world.clock.tick()
    world.planner.user_edit(world.task_id or "", user="u-bob", percent=100)
    world.clock.tick(5)
    step = world.sync()
    task = world.commerce.read()
    assert task is not None
    assert (task.status, task.completed_by, task.completed_at) == (TaskStatus.COMPLETED, "000102", done_at)
    assert step.decisions[-1].outcome is Outcome.UPDATED_COMMERCE


def test_reopen_in_teams_reopens_commerce_and_clears_completion() -> None:
    world = synced_world()
    world.planner.user_edit(world.task_id or "", percent=100)
    world.clock.tick()
    world.sync()
    world.clock.tick()
    world.planner.user_edit(world.task_id or "", percent=0)
    world.clock.tick()
    world.sync()
    task = world.commerce.read()
    assert task is not None
    assert (task.status, task.completed_by, task.completed_at) == (TaskStatus.NOT_STARTED, None, None)


def test_progress_between_1_and_99_is_in_progress_and_is_not_rounded_to_50() -> None:
    world = synced_world()
    world.planner.user_edit(world.task_id or "", percent=30)
    world.clock.tick()
    world.sync()
    assert world.commerce.read().status is TaskStatus.IN_PROGRESS  # type: ignore[union-attr]
    world.clock.tick()
    assert world.sync().writes == 0
    assert world.planner.tasks[world.task_id or ""].percent == 30


def test_due_date_change_in_commerce_updates_planner_without_a_report() -> None:
    world = synced_world()
    world.clock.tick()
    world.commerce.edit(due_date=date(2024, 3, 20))
    step = world.sync()
    assert world.planner.tasks[world.task_id or ""].due == datetime(2024, 3, 20, 19, 0, tzinfo=UTC)
    assert reports(step) == set()


def test_title_edited_in_teams_is_overwritten_and_reported() -> None:
    world = synced_world()
    world.planner.user_edit(world.task_id or "", title="count it later")
    world.clock.tick()
    step = world.sync()
    assert world.planner.tasks[world.task_id or ""].title == "Count the safe"
    (report,) = [r for d in step.decisions for r in d.reports]
    assert (report.kind, report.fields) == (ReportKind.OWNED_FIELD_OVERWRITTEN, ("title",))


def test_description_edited_in_teams_is_overwritten_and_reported() -> None:
    world = synced_world()
    original = world.planner.tasks[world.task_id or ""].description
    world.planner.user_edit(world.task_id or "", description="my own notes")
    world.clock.tick()
    step = world.sync()
    assert world.planner.tasks[world.task_id or ""].description == original
    assert ReportKind.OWNED_FIELD_OVERWRITTEN in reports(step)


def test_due_date_moved_by_hours_within_the_same_store_day_is_left_alone() -> None:
    world = synced_world()
    world.planner.user_edit(world.task_id or "", due=datetime(2024, 3, 10, 8, 30, tzinfo=UTC))  # 00:30 PST
    world.clock.tick()
    assert world.sync().writes == 0


def test_cancel_in_commerce_deletes_the_planner_task_and_it_never_comes_back() -> None:
    world = synced_world()
    world.clock.tick()
    world.commerce.edit(status=TaskStatus.CANCELED)
    step = world.sync()
    assert world.planner.tasks == {}
    assert step.decisions[-1].outcome is Outcome.TOMBSTONED
    assert world.status is not None and world.status.tombstone
    world.clock.tick()
    world.commerce.edit(status=TaskStatus.NOT_STARTED)  # reopened in HQ: still not mirrored again
    assert world.sync().writes == 0
    assert world.planner.tasks == {} and world.planner.created == 1


def test_store_task_deleted_in_commerce_removes_the_planner_task() -> None:
    world = synced_world()
    world.commerce.task = None
    world.sync()
    assert world.planner.tasks == {}
    assert world.status is not None and world.status.tombstone


def test_task_deleted_in_teams_cancels_commerce_and_is_reported() -> None:
    world = synced_world()
    del world.planner.tasks[world.task_id or ""]
    step = world.sync()
    assert world.commerce.read().status is TaskStatus.CANCELED  # type: ignore[union-attr]
    assert ReportKind.DELETED_IN_TEAMS in reports(step)
    assert world.sync().writes == 0


def test_task_deleted_in_teams_is_recreated_when_configured() -> None:
    world = synced_world(settings=TaskSettings(planner_delete_cancels_commerce=False))
    del world.planner.tasks[world.task_id or ""]
    world.sync()
    assert len(world.planner.tasks) == 1
    assert world.commerce.read().status is TaskStatus.NOT_STARTED  # type: ignore[union-attr]


def test_mass_delete_guard_holds_cancellation_and_reports() -> None:
    world = synced_world()
    del world.planner.tasks[world.task_id or ""]
    world.ctx = world.ctx.model_copy(update={"deletions_held": True})
    step = world.sync()
    assert step.writes == 0
    assert world.commerce.read().status is TaskStatus.NOT_STARTED  # type: ignore[union-attr]
    assert reports(step) == {ReportKind.HELD_MASS_DELETE}
    assert step.decisions[-1].outcome is Outcome.HELD


def test_both_sides_changed_the_later_change_wins_and_is_reported() -> None:
    world = synced_world()
    world.clock.tick()
    world.commerce.edit(status=TaskStatus.IN_PROGRESS)
    world.clock.tick()
    world.planner.user_edit(world.task_id or "", percent=100)
    world.clock.tick()
    step = world.sync()
    assert world.commerce.read().status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert ReportKind.CONFLICT_RESOLVED in reports(step)


def test_both_sides_changed_commerce_later_wins() -> None:
    world = synced_world()
    world.planner.user_edit(world.task_id or "", percent=30)
    world.planner_view()  # the poll observes the Teams change now...
    world.clock.tick(10)
    world.commerce.edit(status=TaskStatus.COMPLETED)  # ...and HQ completes it after that
    world.clock.tick()
    step = world.sync()
    assert world.planner.tasks[world.task_id or ""].percent == 100
    assert world.commerce.read().status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert ReportKind.CONFLICT_RESOLVED in reports(step)


def test_our_own_echo_is_ignored() -> None:
    world = synced_world()
    world.clock.tick()
    world.commerce.edit(status=TaskStatus.IN_PROGRESS, assigned_to="000101")
    first = world.sync()
    assert first.writes == 1  # one PATCH: percentComplete and assignment together
    world.clock.tick()
    echo = world.sync()  # the poll sees the new ETag: it is our write
    assert echo.writes == 0
    assert echo.decisions[-1].outcome is Outcome.ECHO


def test_stale_etag_means_re_read_and_decide_again() -> None:
    world = synced_world()
    old_view = world.planner_view()
    world.clock.tick()
    world.planner.user_edit(world.task_id or "", user="u-ann", percent=100)  # lands after our read
    world.clock.tick()
    world.commerce.edit(name="Count the safe twice")
    step = world.sync(stale_view=old_view)
    assert step.stale == 1
    assert isinstance(step.decisions[0].actions[0], UpdatePlannerFields)  # refused with 412
    task = world.planner.tasks[world.task_id or ""]
    assert (task.title, task.percent) == ("Count the safe twice", 100)
    assert world.commerce.read().status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_write_that_landed_before_a_412_is_recognised_as_ours() -> None:
    world = synced_world()
    world.clock.tick()
    world.commerce.edit(status=TaskStatus.IN_PROGRESS)
    world.planner.user_edit(world.task_id or "", assignees=frozenset({"u-bob"}))
    world.clock.tick()
    view = world.planner_view()
    decision = decide(world.commerce.read(), view, world.status, world.ctx)
    # Planner PATCH lands; then HQ completes the task before our Commerce write (-> 412).
    world.apply(decision.model_copy(update={"actions": decision.actions[:1]}))
    world.clock.tick()
    world.commerce.edit(status=TaskStatus.COMPLETED)
    assert world.status is not None
    again = decide(
        world.commerce.read(), world.planner_view(), world.status.with_written(decision.status), world.ctx
    )
    # Our Planner write (50%) is not a Teams change: Commerce's completion simply wins.
    assert not any(isinstance(a, WriteCommerceStatus) for a in again.actions)
    assert not any(r.kind is ReportKind.CONFLICT_RESOLVED and "status" in r.fields for r in again.reports)


def test_assignee_set_in_commerce_is_assigned_in_planner() -> None:
    world = synced_world()
    world.clock.tick()
    world.commerce.edit(assigned_to="000102")
    world.sync()
    assert world.planner.tasks[world.task_id or ""].assignees == frozenset({"u-bob"})


def test_assignee_set_in_teams_is_written_to_commerce() -> None:
    world = synced_world()
    world.planner.user_edit(world.task_id or "", assignees=frozenset({"u-ann"}))
    world.clock.tick()
    world.sync()
    assert world.commerce.read().assigned_to == "000101"  # type: ignore[union-attr]


def test_unassigned_in_teams_makes_the_commerce_task_store_wide() -> None:
    world = World(ctx=make_context())
    world.commerce.task = make_store_task(assigned_to="000101")
    world.sync()
    world.planner.user_edit(world.task_id or "", assignees=frozenset())
    world.clock.tick()
    world.sync()
    assert world.commerce.read().assigned_to is None  # type: ignore[union-attr]


def test_teams_assignee_who_is_not_one_store_worker_is_set_back_and_reported() -> None:
    world = synced_world()
    world.planner.user_edit(world.task_id or "", assignees=frozenset({"u-ann", "u-stranger"}))
    world.clock.tick()
    step = world.sync()
    assert world.planner.tasks[world.task_id or ""].assignees == frozenset()
    assert world.commerce.read().assigned_to is None  # type: ignore[union-attr]
    assert ReportKind.ASSIGNEE_NOT_REPRESENTABLE in reports(step)


def test_planner_limit_is_reported_and_nothing_created() -> None:
    decision = decide(make_store_task(), None, None, make_context(plan_task_count=9000))
    assert decision.outcome is Outcome.HELD
    assert [r.kind for r in decision.reports] == [ReportKind.PLANNER_LIMIT]
    assert decision.writes == ()


def test_canceled_task_never_synced_is_tombstoned_not_created() -> None:
    decision = decide(make_store_task(status=TaskStatus.CANCELED), None, None, make_context())
    assert decision.outcome is Outcome.TOMBSTONED and decision.writes == ()
    assert decision.status is not None and decision.status.tombstone


def test_decision_round_trips_through_json() -> None:
    world = synced_world()
    world.commerce.edit(status=TaskStatus.COMPLETED, assigned_to="000101")
    decision = decide(world.commerce.read(), world.planner_view(), world.status, world.ctx)
    assert type(decision).model_validate_json(decision.model_dump_json()) == decision
