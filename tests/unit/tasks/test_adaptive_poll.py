"""The adaptive Planner poll: busy plans often, quiet plans rarely, never over the budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.settings import TaskSettings
from shared.tasks.poll import PlanPoll, allowance, choose_plans, poll_interval

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTINGS = TaskSettings()


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_plans_are_listed_by_how_likely_they_are_to_change() -> None:
    hot = PlanPoll(polled_at=ago(130), changed_at=ago(600))
    warm = PlanPoll(polled_at=ago(130), changed_at=ago(5 * 3600))
    quiet = PlanPoll(polled_at=ago(130), changed_at=ago(3 * 86400))
    assert poll_interval(hot, False, NOW, SETTINGS) == 120
    assert poll_interval(warm, False, NOW, SETTINGS) == 900
    assert poll_interval(quiet, False, NOW, SETTINGS) == 3600
    assert poll_interval(quiet, True, NOW, SETTINGS) == 900  # an open task due within a day
    polls = {"hot": hot, "warm": warm, "quiet": quiet}
    assert choose_plans(polls, polls, frozenset(), NOW, SETTINGS, None) == ("hot",)
    later = NOW + timedelta(seconds=800)
    assert choose_plans([*polls, "new"], polls, frozenset({"quiet"}), later, SETTINGS, None) == (
        "hot",
        "new",
        "quiet",
        "warm",
    )


def test_over_budget_the_most_overdue_go_first_and_the_rest_wait() -> None:
    polls = {
        "a": PlanPoll(polled_at=ago(7200)),  # two quiet intervals late
        "b": PlanPoll(polled_at=ago(3700)),
        "c": PlanPoll(polled_at=ago(300), changed_at=ago(300)),  # 2.5 hot intervals
    }
    assert choose_plans(polls, polls, frozenset(), NOW, SETTINGS, 2) == ("a", "c")
    assert allowance(120, TaskSettings(poll_budget_per_hour=3600)) == 120
    assert allowance(10**6, TaskSettings(poll_budget_per_hour=3600)) == 3600  # an hour's worth at most
    assert allowance(120, TaskSettings(poll_budget_per_hour=0)) is None


plans = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3),
    st.builds(
        PlanPoll,
        polled_at=st.none() | st.integers(0, 10_000).map(ago),
        changed_at=st.none() | st.integers(0, 200_000).map(ago),
    ),
    max_size=30,
)


@given(plans, st.none() | st.integers(1, 40), st.sets(st.text("abcdef", min_size=1, max_size=3)))
def test_a_round_never_exceeds_its_budget_and_lists_only_plans_whose_interval_passed(
    polls: dict[str, PlanPoll], budget: int | None, due: set[str]
) -> None:
    chosen = choose_plans(polls, polls, frozenset(due), NOW, SETTINGS, budget)
    assert budget is None or len(chosen) <= budget
    overdue = {
        p
        for p, poll in polls.items()
        if poll.polled_at is None
        or (NOW - poll.polled_at).total_seconds() >= poll_interval(poll, p in due, NOW, SETTINGS)
    }
    assert set(chosen) <= overdue
    if budget is None or len(overdue) <= budget:
        assert set(chosen) == overdue
    never = {p for p, poll in polls.items() if poll.polled_at is None}
    assert set(chosen) >= (never if budget is None or len(never) <= budget else set())
