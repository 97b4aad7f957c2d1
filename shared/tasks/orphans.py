"""Finding the Planner task an interrupted create left behind (pure).

A create is a POST whose response carries the new task's id; the executor records the id at once.
If the process dies, or the response is lost (a timeout after Planner committed), between the POST
and that record, the next pass would create the task again: a duplicate in the store's plan.
So the executor first records the intent (`PairStatus.creating_since`), and a pass that finds an
unfinished create looks in the plan for the task before deciding: same title, same bucket,
created since the intent (less a clock-skew margin), not already the task of another pair.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta

from shared.domain.planner import PlannerTask
from shared.tasks.state import PairStatus

#: Planner's createdDateTime is the service's clock; the intent time is ours.
CLOCK_SKEW = timedelta(minutes=5)


def find_orphan(
    status: PairStatus,
    tasks: Sequence[PlannerTask],
    bucket_names: Mapping[str, str],
    claimed: Collection[str],
) -> PlannerTask | None:
    """The task this pair's unfinished create made, or None (then creating again is right).

    With several candidates the earliest is taken: the others were made by someone else after
    it (a person's own task with the same title is left alone)."""
    if not status.unfinished_create or status.planner is None or status.creating_since is None:
        return None
    want = status.planner
    since = status.creating_since - CLOCK_SKEW
    candidates = [
        t
        for t in tasks
        if t.task_id not in claimed
        and t.title == want.title
        and (want.bucket is None or bucket_names.get(t.bucket_id or "") == want.bucket)
        and (t.created is None or t.created >= since)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda t: (t.created is None, t.created or status.creating_since))
