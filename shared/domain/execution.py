"""The outcome of executing a provisioning plan: per operation, per member, and problems."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.plan import Problem


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutcomeStatus(StrEnum):
    DONE = "done"
    ALREADY = "already"  # the target state was already there (e.g. channel 409)
    PARTIAL = "partial"  # some members failed
    FAILED = "failed"
    SKIPPED = "skipped"  # its team could not be created or resolved


class MemberFailure(_Model):
    user_id: str
    code: str
    message: str = ""


class OperationOutcome(_Model):
    index: int = Field(description="Position in plan.operations")
    op: str
    team_key: str
    status: OutcomeStatus
    team_id: str | None = None
    detail: str = ""
    error_code: str | None = None
    request_id: str | None = None
    member_failures: tuple[MemberFailure, ...] = ()


class ExecutionResult(_Model):
    outcomes: tuple[OperationOutcome, ...] = ()
    problems: tuple[Problem, ...] = ()
    team_ids: dict[str, str] = Field(default_factory=dict, description="str(TeamKey) -> team id")
    requests: int = Field(default=0, description="HTTP requests sent to Graph (including retries)")

    @property
    def ok(self) -> bool:
        return all(o.status in (OutcomeStatus.DONE, OutcomeStatus.ALREADY) for o in self.outcomes)
