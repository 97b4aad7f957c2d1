"""Commerce (Finance & Operations) org structure: the master data the app converges Teams to.

Keys are Commerce's alternate keys (store number, personnel number), never RecIds.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class EmploymentStatus(StrEnum):
    ACTIVE = "active"
    TERMINATED = "terminated"


class StoreRole(StrEnum):
    """A worker's role at one store. "Store manager" comes from the worker's job/position."""

    MANAGER = "manager"
    WORKER = "worker"


class Store(_Model):
    number: str = Field(min_length=1, description="StoreNumber, the stable key")
    name: str
    operating_unit_number: str | None = None
    legal_entity: str = "USRT"
    status: StoreStatus = StoreStatus.OPEN
    region: str | None = Field(default=None, description="Region id in the retail reporting hierarchy")
    district: str | None = None
    time_zone: str = "UTC"


class Worker(_Model):
    personnel_number: str = Field(min_length=1)
    name: str
    upn: str | None = Field(default=None, description="The worker record's linked Entra identity")
    entra_object_id: str | None = None
    status: EmploymentStatus = EmploymentStatus.ACTIVE
    termination_date: date | None = None

    def is_active_on(self, day: date) -> bool:
        """Terminated workers leave at their termination date (or at once when it is unknown)."""
        if self.status is EmploymentStatus.ACTIVE:
            return self.termination_date is None or day < self.termination_date
        return self.termination_date is not None and day < self.termination_date


class StoreAssignment(_Model):
    """A RetailChannelWorkerEntity row: this worker works at this store, in this role."""

    personnel_number: str
    store: str
    role: StoreRole = StoreRole.WORKER
    active: bool = True
    job: str | None = Field(default=None, description="Job/position id the role was derived from")


class Region(_Model):
    """A node of the retail reporting hierarchy (region or district) and its managers."""

    id: str = Field(min_length=1)
    name: str
    parent: str | None = None
    managers: tuple[str, ...] = Field(default=(), description="Personnel numbers of region managers")


class TeamSourceType(StrEnum):
    """SOURCETYPE of Commerce's 'Teams mapping between source and team' entity."""

    STORE = "RetailStore"
    REGION = "RetailRegion"
    COMMUNICATIONS = "RetailCommunications"


class TeamMapping(_Model):
    source_type: TeamSourceType = TeamSourceType.STORE
    source_id: str
    team_id: str


class CommerceOrg(_Model):
    """Everything the planner needs to know about Commerce, read at one moment."""

    legal_entity: str = "USRT"
    stores: tuple[Store, ...] = ()
    workers: tuple[Worker, ...] = ()
    assignments: tuple[StoreAssignment, ...] = ()
    regions: tuple[Region, ...] = ()
    communications_managers: tuple[str, ...] = Field(
        default=(), description="Workers holding the configured HQ role (default 'Retail task manager')"
    )
    mappings: tuple[TeamMapping, ...] = ()

    def store(self, number: str) -> Store | None:
        return next((s for s in self.stores if s.number == number), None)

    def worker(self, personnel_number: str) -> Worker | None:
        return next((w for w in self.workers if w.personnel_number == personnel_number), None)

    def assignments_at(self, store: str) -> tuple[StoreAssignment, ...]:
        return tuple(a for a in self.assignments if a.store == store)

    def stores_of(self, personnel_number: str) -> tuple[str, ...]:
        return tuple(sorted({a.store for a in self.assignments if a.personnel_number == personnel_number}))
