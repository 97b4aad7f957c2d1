"""Domain models shared by every layer (pydantic v2, immutable)."""

from shared.domain.commerce import (
    CommerceOrg,
    EmploymentStatus,
    Region,
    Store,
    StoreAssignment,
    StoreRole,
    StoreStatus,
    TeamMapping,
    TeamSourceType,
    Worker,
)
from shared.domain.plan import (
    AddMembers,
    AdoptTeam,
    ArchiveTeam,
    CreateChannel,
    CreatePlan,
    CreateTeam,
    DesiredState,
    DesiredTeam,
    Operation,
    Plan,
    Problem,
    ProblemKind,
    RemoveMember,
    SetRole,
    UnarchiveTeam,
    UpdateTeam,
)
from shared.domain.teams import (
    ActualState,
    ActualTeam,
    Channel,
    Identity,
    Member,
    MemberRole,
    PlanRef,
    Team,
    TeamKey,
    TeamKind,
    Visibility,
)

__all__ = [
    "ActualState", "ActualTeam", "AddMembers", "AdoptTeam", "ArchiveTeam", "Channel", "CommerceOrg",
    "CreateChannel", "CreatePlan", "CreateTeam", "DesiredState", "DesiredTeam", "EmploymentStatus",
    "Identity", "Member", "MemberRole", "Operation", "Plan", "PlanRef", "Problem", "ProblemKind",
    "Region", "RemoveMember", "SetRole", "Store", "StoreAssignment", "StoreRole", "StoreStatus",
    "Team", "TeamKey", "TeamKind", "TeamMapping", "TeamSourceType", "UnarchiveTeam", "UpdateTeam",
    "Visibility", "Worker",
]
