"""A Hypothesis state machine over the recurrence rule (shared/tasks/recurrence.py): HQ starts
occurrences, stores complete or cancel them in Commerce or Teams, mirror passes run in any order;
a model of Planner continues a series on completion as the beta docs say. Invariants: no two
occurrences share a Planner task, a store never has two live series, and once every pass has run
each open occurrence has its task unless it waits for the previous one, open in Teams."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shared.domain.tasks import TaskRecurrence
from shared.tasks.recurrence import Previous, SeriesStep, series_step


@dataclass
class PTask:
    scheduled: bool
    in_series: bool = False
    done: bool = False
    deleted: bool = False
    next: str | None = None


@dataclass
class Pair:
    task: str | None = None
    tombstone: bool = False


@dataclass
class Model:
    planner: dict[str, PTask] = field(default_factory=dict)
    status: list[str] = field(default_factory=list)  # occurrence n-1: open / completed / canceled
    pairs: dict[int, Pair] = field(default_factory=dict)

    def new_task(self, scheduled: bool, done: bool = False) -> str:
        ident = f"t{len(self.planner) + 1}"
        self.planner[ident] = PTask(scheduled=scheduled, in_series=scheduled, done=done)
        return ident

    def complete(self, ident: str) -> None:
        """Planner: completing a task with an active schedule creates the series' next task."""
        task = self.planner[ident]
        if task.done or task.deleted:
            return
        task.done = True
        if task.scheduled and task.next is None:
            task.next = self.new_task(scheduled=True)

    def previous(self, n: int) -> Previous | None:
        """As mirror_pass._previous_occurrence: back past the occurrences that ended before they
        reached Planner, to one with a task or one still open and unmirrored."""
        for k in range(n - 1, 0, -1):
            pair = self.pairs.get(k)
            if pair is not None and pair.task is not None:
                task = self.planner[pair.task]
                if not task.in_series:
                    return None
                return Previous(task_id=pair.task, exists=not task.deleted, next_in_series=task.next)
            ended = self.status[k - 1] != "open"
            if not ended and not (pair is not None and pair.tombstone):
                return Previous(pending=True)
        return None

    def mirror(self, n: int) -> None:
        """One pass of occurrence n, as mirror_pass + decide do it."""
        pair = self.pairs.setdefault(n, Pair())
        status = self.status[n - 1]
        if pair.tombstone:
            return
        if status == "canceled":
            if pair.task is not None:  # DeletePlannerTask(stop_recurrence): schedule null, then delete
                task = self.planner[pair.task]
                task.scheduled, task.deleted = False, True
            pair.tombstone = True
            return
        if pair.task is not None:
            task = self.planner[pair.task]
            if task.deleted:
                return
            if status == "completed" and not task.done:
                self.complete(pair.task)
            elif task.done and status == "open":
                self.status[n - 1] = "completed"
            return
        rec = TaskRecurrence(series="S", occurrence=n, pattern="weekly", start="2030-03-11",
                             previous_list=None if n == 1 else f"S-{n - 1}")  # fmt: skip
        previous = None if n == 1 else self.previous(n)
        step = series_step(rec, previous, completed=status == "completed")
        if step is SeriesStep.START:
            pair.task = self.new_task(scheduled=True)
        elif step is SeriesStep.ADOPT:
            assert previous is not None and previous.next_in_series is not None
            following = self.planner[previous.next_in_series]
            # mirror_pass reads the next task before adopting it: a deleted one -> a new series
            pair.task = self.new_task(scheduled=True) if following.deleted else previous.next_in_series


class SeriesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = Model()

    @rule()
    def hq_starts_the_next_occurrence(self) -> None:
        if len(self.m.status) < 8:
            self.m.status.append("open")

    @precondition(lambda self: self.m.status)
    @rule(data=st.data())
    def a_pass_runs(self, data: st.DataObject) -> None:
        self.m.mirror(data.draw(st.integers(1, len(self.m.status))))

    @precondition(lambda self: self.m.status)
    @rule(data=st.data(), what=st.sampled_from(["completed", "canceled"]))
    def the_store_changes_an_occurrence_in_commerce(self, data: st.DataObject, what: str) -> None:
        n = data.draw(st.integers(1, len(self.m.status)))
        if self.m.status[n - 1] == "open":
            self.m.status[n - 1] = what

    @precondition(lambda self: any(p.task for p in self.m.pairs.values()))
    @rule(data=st.data())
    def someone_completes_a_task_in_teams(self, data: st.DataObject) -> None:
        owned = sorted(p.task for p in self.m.pairs.values() if p.task)
        self.m.complete(data.draw(st.sampled_from(owned)))

    @invariant()
    def no_two_occurrences_share_a_task(self) -> None:
        owned = [p.task for p in self.m.pairs.values() if p.task]
        assert len(owned) == len(set(owned))

    @invariant()
    def never_two_live_series(self) -> None:
        heads = [i for i, t in self.m.planner.items() if t.scheduled and not t.deleted and t.next is None]
        assert len(heads) <= 1, heads

    def teardown(self) -> None:
        # Quiet period: every pass runs until nothing changes.
        for _ in range(4 * len(self.m.status) + 4):
            for n in range(1, len(self.m.status) + 1):
                self.m.mirror(n)
        self.no_two_occurrences_share_a_task()
        self.never_two_live_series()
        for n, status in enumerate(self.m.status, start=1):
            pair = self.m.pairs[n]
            if status != "open" or pair.task is not None:
                continue
            # It waits: back past the occurrences without a task (ended, or waiting themselves) to
            # one whose task is still open in Teams.
            k = n - 1
            while k >= 1 and self.m.pairs[k].task is None:
                k -= 1
            assert k >= 1, f"occurrence {n} lost"
            before = self.m.pairs[k].task
            assert before is not None, f"occurrence {n} waits for nothing"
            task = self.m.planner[before]
            assert not task.done and not task.deleted, f"occurrence {n} waits for nothing"
        live = {t for t, p in self.m.planner.items() if not p.deleted}
        owned = {p.task for p in self.m.pairs.values() if p.task}
        assert len(live - owned) <= 1  # only the series' next task, made before HQ's next occurrence


TestSeriesMachine = SeriesMachine.TestCase
TestSeriesMachine.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
