"""The status table of task mirroring: one `PairStatus` per Commerce store task <-> Planner task.

Per side it keeps what that side held after the last sync (what we read from it, or what we wrote
to it): its version (Planner ETag; Commerce @odata.etag or modified time), the mirrored field values
and a stable fingerprint of them. A side whose current fingerprint equals the recorded one has not
changed, whatever its version says -- that is how our own writes coming back (echoes) are ignored.

`written_commerce` / `written_planner` hold what we last wrote to a side and have not seen
overwritten since. They matter when an execution stops half-way (a 412 on the second write): the
executor re-decides with `with_written(...)` so the write that did land is recognised as ours and
not mistaken for a user's change.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.task_mirror import PlannerTaskView
from shared.domain.tasks import StoreTask, TaskStatus
from shared.tasks.mapping import normalized_text, status_of


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def fingerprint(*parts: object) -> str:
    """Stable short hash of JSON-able parts (sets are sorted, datetimes ISO)."""

    def norm(value: object) -> object:
        if isinstance(value, frozenset | set):
            return sorted(str(v) for v in value)
        if isinstance(value, datetime):
            return value.isoformat()
        return value

    text = json.dumps([norm(p) for p in parts], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def text_hash(text: str | None) -> str | None:
    return None if text is None else fingerprint(normalized_text(text))


class CommerceSide(_Model):
    version: str | None = Field(default=None, description="@odata.etag, else modified time (ISO)")
    modified_at: datetime | None = None
    status: TaskStatus
    assigned_to: str | None = None
    fingerprint: str
    written: bool = Field(default=False, description="These values are ours (we wrote them)")

    @classmethod
    def make(
        cls,
        status: TaskStatus,
        assigned_to: str | None,
        *,
        version: str | None = None,
        modified_at: datetime | None = None,
        written: bool = False,
    ) -> CommerceSide:
        return cls(
            version=version,
            modified_at=modified_at,
            status=status,
            assigned_to=assigned_to,
            fingerprint=commerce_fingerprint(status, assigned_to),
            written=written,
        )

    @classmethod
    def seen(cls, task: StoreTask) -> CommerceSide:
        version = task.etag or (task.modified_at.isoformat() if task.modified_at else None)
        return cls.make(task.status, task.assigned_to, version=version, modified_at=task.modified_at)


def commerce_fingerprint(status: TaskStatus, assigned_to: str | None) -> str:
    return fingerprint("commerce", status.value, assigned_to)


class PlannerSide(_Model):
    task_id: str | None = Field(description="None until the executor records the created task's id")
    etag: str | None = None
    details_etag: str | None = None
    status: TaskStatus = Field(description="Status class of percentComplete (1-99 = in progress)")
    assignee_ids: frozenset[str] = frozenset()
    title: str = ""
    bucket: str | None = None
    due: datetime | None = None
    description_hash: str | None = Field(default=None, description="None = never read or written")
    fingerprint: str
    written: bool = False
    observed_at: datetime | None = None
    series_id: str | None = Field(default=None, description="Planner recurrence series the task is in")
    # Not in the fingerprint (every Planner task has one; Commerce owns it only when it sets one):
    # kept to tell a Teams edit from a Commerce change.
    priority: int | None = None
    # What we put on /details besides the description (None = never written or read).
    checklist_ids: frozenset[str] | None = Field(default=None, description="Checklist items that are ours")
    reference: str | None = Field(default=None, description="The references key we wrote (task link)")

    @classmethod
    def make(
        cls,
        *,
        task_id: str | None,
        status: TaskStatus,
        assignee_ids: frozenset[str],
        title: str,
        bucket: str | None,
        due: datetime | None,
        description_hash: str | None,
        etag: str | None = None,
        details_etag: str | None = None,
        written: bool = False,
        observed_at: datetime | None = None,
        series_id: str | None = None,
        priority: int | None = None,
        checklist_ids: frozenset[str] | None = None,
        reference: str | None = None,
    ) -> PlannerSide:
        return cls(
            series_id=series_id,
            priority=priority,
            checklist_ids=checklist_ids,
            reference=reference,
            task_id=task_id,
            etag=etag,
            details_etag=details_etag,
            status=status,
            assignee_ids=assignee_ids,
            title=title,
            bucket=bucket,
            due=due,
            description_hash=description_hash,
            fingerprint=planner_fingerprint(status, assignee_ids, title, bucket, due),
            written=written,
            observed_at=observed_at,
        )

    @classmethod
    def seen(cls, view: PlannerTaskView, previous: PlannerSide | None = None) -> PlannerSide:
        described = text_hash(view.description)
        return cls.make(
            task_id=view.task_id,
            etag=view.etag,
            details_etag=view.details_etag or (previous.details_etag if previous else None),
            status=status_of(view.percent_complete),
            assignee_ids=view.assignee_ids,
            title=view.title,
            bucket=view.bucket_name,
            due=view.due,
            description_hash=described
            if described is not None
            else (previous.description_hash if previous else None),
            observed_at=view.observed_at,
            series_id=previous.series_id if previous else None,
            priority=view.priority,
            checklist_ids=previous.checklist_ids if previous else None,
            reference=previous.reference if previous else None,
        )


def planner_fingerprint(
    status: TaskStatus, assignee_ids: frozenset[str], title: str, bucket: str | None, due: datetime | None
) -> str:
    # The description lives on /details (own ETag, not always read), so it is compared, not hashed in.
    return fingerprint("planner", status.value, assignee_ids, title, bucket, due)


class PairStatus(_Model):
    """One row of the status table, keyed by the store task's key ('TL-7/1@0042')."""

    key: str
    plan_id: str
    commerce: CommerceSide | None = None
    planner: PlannerSide | None = None
    written_commerce: CommerceSide | None = None
    written_planner: PlannerSide | None = None
    tombstone: bool = Field(default=False, description="Canceled/removed: never mirrored again")
    last_decision: str = ""
    creating_since: datetime | None = Field(
        default=None,
        description="A Planner task was being created from this time and its id is not recorded yet "
        "(a crash or a lost response in between): the next pass looks for it before creating again",
    )

    def creating(self, now: datetime) -> PairStatus:
        """Recorded before the create request: the intent that lets a later pass adopt the task."""
        return self.model_copy(update={"creating_since": now})

    @property
    def unfinished_create(self) -> bool:
        return self.creating_since is not None and (self.planner is None or self.planner.task_id is None)

    def created(self, task_id: str, etag: str | None = None, details_etag: str | None = None) -> PairStatus:
        """The executor records the id of the Planner task it just created (required: without it
        the next pass would create the task again)."""
        if self.planner is None:
            return self
        side = self.planner.model_copy(
            update={"task_id": task_id, "etag": etag, "details_etag": details_etag}
        )
        written = (
            self.written_planner.model_copy(update={"task_id": task_id}) if self.written_planner else None
        )
        return self.model_copy(update={"planner": side, "written_planner": written, "creating_since": None})

    def adopted(self, task_id: str, etag: str | None) -> PairStatus:
        """The id of a task an interrupted create left behind. Its description may never have been
        written, so it counts as unknown: the next decision writes it, and reports no Teams edit."""
        status = self.created(task_id, etag)
        if status.planner is None:
            return status
        unknown = {"description_hash": None, "details_etag": None}
        written = status.written_planner.model_copy(update=unknown) if status.written_planner else None
        return status.model_copy(
            update={"planner": status.planner.model_copy(update=unknown), "written_planner": written}
        )

    def with_written(self, attempted: PairStatus | None) -> PairStatus:
        """This status plus what an interrupted execution meant to write (see the module doc)."""
        if attempted is None:
            return self
        return self.model_copy(
            update={
                "written_commerce": attempted.written_commerce or self.written_commerce,
                "written_planner": attempted.written_planner or self.written_planner,
            }
        )
