"""Task mirroring, Commerce task management <-> Planner (pure: no I/O).

`decide` is the decision table for one pair; `desired_planner_task` the field mapping;
`PairStatus` the status table row; `plans_to_poll` / `poll_batches` / `plan_changes` the cheap
Teams-side change pick-up. See docs/tasks.md.
"""

from shared.tasks.actions import (
    Action,
    CreatePlannerTask,
    DeletePlannerTask,
    KeepTombstone,
    Nothing,
    Report,
    ReportKind,
    UpdatePlannerDetails,
    UpdatePlannerFields,
    WriteCommerceAssignee,
    WriteCommerceStatus,
)
from shared.tasks.decide import decide
from shared.tasks.decision import Decision, Outcome
from shared.tasks.mapping import (
    DesiredPlannerTask,
    MirrorContext,
    desired_planner_task,
    due_datetime,
    percent_of,
    status_of,
)
from shared.tasks.orphans import find_orphan
from shared.tasks.poll import (
    BATCH_LIMIT,
    DeltaLinks,
    PlanChanges,
    PollBatch,
    delta_changes,
    mass_deletion_held,
    plan_changes,
    plans_to_poll,
    poll_batches,
)
from shared.tasks.state import CommerceSide, PairStatus, PlannerSide, fingerprint
from shared.tasks.zones import FO_TIMEZONE_TO_IANA, WINDOWS_TO_IANA, StoreZone, ZoneSource, store_zone

__all__ = [
    "BATCH_LIMIT",
    "FO_TIMEZONE_TO_IANA",
    "WINDOWS_TO_IANA",
    "Action",
    "CommerceSide",
    "CreatePlannerTask",
    "Decision",
    "DeletePlannerTask",
    "DeltaLinks",
    "DesiredPlannerTask",
    "KeepTombstone",
    "MirrorContext",
    "Nothing",
    "Outcome",
    "PairStatus",
    "PlanChanges",
    "PlannerSide",
    "PollBatch",
    "Report",
    "ReportKind",
    "StoreZone",
    "UpdatePlannerDetails",
    "UpdatePlannerFields",
    "WriteCommerceAssignee",
    "WriteCommerceStatus",
    "ZoneSource",
    "decide",
    "delta_changes",
    "desired_planner_task",
    "due_datetime",
    "find_orphan",
    "fingerprint",
    "mass_deletion_held",
    "percent_of",
    "plan_changes",
    "plans_to_poll",
    "poll_batches",
    "status_of",
    "store_zone",
]
