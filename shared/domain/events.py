"""Commerce events as the app understands them: a *hint* naming where to look.

Both real formats (the F&O business-event envelope and the Dataverse data-event
`RemoteExecutionContext`) are parsed into one `CommerceHint`. The payload's field values are never
applied: the handler re-reads Commerce for the hint's scope.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HintScope(StrEnum):
    STORE = "store"
    WORKER = "worker"
    ASSIGNMENT = "assignment"  # a worker at a store: both are in `ids`
    REGION = "region"
    TASK_LIST = "task_list"
    TASK = "task"
    # Dataverse records (record-connected channels, shared/records): a pass per account.
    ACCOUNT = "account"
    OPPORTUNITY = "opportunity"


class EventFormat(StrEnum):
    BUSINESS_EVENT = "business_event"
    DATA_EVENT = "data_event"


class CommerceHint(_Model):
    scope: HintScope
    ids: dict[str, str] = Field(description="Alternate keys, e.g. {'store': '0042'}")
    event_id: str
    event_type: str = Field(description="BusinessEventId, or 'data:<Entity>:<Create|Update|Delete>'")
    format: EventFormat
    legal_entity: str | None = None
    control_number: int | None = None
    event_time: datetime | None = None
    major_version: int | None = None
    minor_version: int | None = None

    @property
    def dedupe_key(self) -> str:
        return f"{self.format.value}:{self.event_id}"

    @property
    def scope_key(self) -> str:
        """The scope this hint names, e.g. 'store:0042' or 'assignment:store=0042,worker=000123'.

        Stable whatever the format or event type, so it keys per-scope state such as the last
        processed `control_number` (see `shared.commerce.events.is_newer`)."""
        if len(self.ids) == 1:
            return f"{self.scope.value}:{next(iter(self.ids.values()))}"
        return f"{self.scope.value}:" + ",".join(f"{k}={v}" for k, v in sorted(self.ids.items()))


class TestMessage(_Model):
    """F&O's message sent when a business-event endpoint is activated: acknowledged, nothing else."""

    kind: Literal["test_message"] = "test_message"
    event_id: str | None = None


class Rejection(_Model):
    """Why a message can never be processed. `reason` is a short stable code (the dead-letter
    reason); `description` tells a person what is wrong and what to do."""

    reason: str = Field(max_length=128)
    description: str = Field(max_length=4096)
    event_id: str | None = None


IntakeResult = CommerceHint | TestMessage | Rejection
