"""A decision: the actions for one pair and the status to record once they all succeeded."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.tasks.actions import COMMERCE_WRITES, PLANNER_WRITES, Action, Report
from shared.tasks.state import PairStatus


class Outcome(StrEnum):
    IN_SYNC = "in_sync"
    ECHO = "echo"  # a side's version moved but its fields are what we wrote
    CREATED = "created"
    UPDATED_PLANNER = "updated_planner"
    UPDATED_COMMERCE = "updated_commerce"
    UPDATED_BOTH = "updated_both"
    TOMBSTONED = "tombstoned"
    HELD = "held"  # mass-delete guard or Planner limit: nothing written, reported


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    outcome: Outcome
    actions: tuple[Action, ...]
    status: PairStatus | None  # record after every action succeeded; None = forget the pair

    @property
    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if isinstance(a, PLANNER_WRITES + COMMERCE_WRITES))

    @property
    def reports(self) -> tuple[Report, ...]:
        return tuple(a for a in self.actions if isinstance(a, Report))
