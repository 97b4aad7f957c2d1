"""Desired Teams state and the plan that turns the actual state into it.

Every operation and every problem says why it exists (`reason`), so a plan read by a person, a
drift report or the ops page explains itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.teams import MemberRole, TeamKey, Visibility


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProblemKind(StrEnum):
    BLOCKED_NO_OWNER = "blocked: no owner"
    BLOCKED_LAST_OWNER = "blocked: last owner"
    UNRESOLVED_IDENTITY = "unresolved identity"
    HELD_MASS_REMOVAL = "held: mass removal"
    HELD_MASS_ARCHIVE = "held: mass archive"
    BLOCKED_MAPPED_TEAM_MISSING = "blocked: mapped team missing"
    UNKNOWN_STORE = "unknown store"
    PLANNER_LIMIT = "planner limit"
    OWNED_FIELD_OVERWRITTEN = "owned field overwritten"
    GRAPH_ERROR = "graph error"
    SUSPENDED = "suspended: writes off"
    EXCLUDED = "excluded: opted out"
    BLOCKED_NO_LICENCE = "blocked: no Teams licence"
    MAPPING_CONFLICT = "mapping conflict"
    MAPPING_NOT_WRITTEN = "mapping not written"
    NAME_TAKEN = "team name taken"  # a team with the desired name the app neither created nor maps


class Problem(_Model):
    kind: ProblemKind
    detail: str
    store: str | None = None
    personnel_number: str | None = None
    team_key: str | None = None


class DesiredTeam(_Model):
    key: TeamKey
    display_name: str
    mail_nickname: str
    description: str = ""
    visibility: Visibility = Visibility.PRIVATE
    archived: bool = False
    owners: frozenset[str] = frozenset()
    members: frozenset[str] = Field(default=frozenset(), description="Non-owner members (user ids)")
    channels: tuple[str, ...] = ()
    plan_title: str | None = None
    team_id: str | None = Field(
        default=None, description="The team a mapping row names for this key (adopt it, never create another)"
    )
    # Why each person is there, for explanations: user id -> e.g. "store manager 000321".
    why: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, frozenset[str]] = Field(
        default_factory=dict,
        description="Role tags the integration keeps: tag name -> user ids (every configured name, "
        "empty when nobody holds the role)",
    )
    unlicensed_owners: frozenset[str] = Field(
        default=frozenset(),
        description="Would-be owners without a Teams licence: in `members` (added as members), never "
        "promoted, and not demoted when they already are owners",
    )


class DesiredState(_Model):
    teams: dict[str, DesiredTeam] = Field(default_factory=dict, description="By str(TeamKey)")
    # Keys whose team must exist no longer but must not be deleted (e.g. store closed): archived.
    problems: tuple[Problem, ...] = ()
    leavers: dict[str, str] = Field(
        default_factory=dict,
        description="Users of terminated workers -> why (e.g. 'terminated 2026-11-01'): they leave every "
        "team the integration keeps, even in flexible membership mode",
    )


class _Op(_Model):
    key: TeamKey
    reason: str


class CreateTeam(_Op):
    op: Literal["create_team"] = "create_team"
    display_name: str
    mail_nickname: str
    description: str = ""
    visibility: Visibility = Visibility.PRIVATE
    first_owner: str = Field(description="App-only creation needs one owner in the same call")


class AdoptTeam(_Op):
    op: Literal["adopt_team"] = "adopt_team"
    team_id: str


class UpdateTeam(_Op):
    op: Literal["update_team"] = "update_team"
    team_id: str
    display_name: str | None = None
    description: str | None = None


class AddMembers(_Op):
    op: Literal["add_members"] = "add_members"
    team_id: str | None = Field(default=None, description="None: the team created by this plan")
    user_ids: tuple[str, ...]
    role: MemberRole = MemberRole.MEMBER


class RemoveMember(_Op):
    op: Literal["remove_member"] = "remove_member"
    team_id: str
    user_id: str


class SetRole(_Op):
    op: Literal["set_role"] = "set_role"
    team_id: str
    user_id: str
    role: MemberRole


class CreateChannel(_Op):
    op: Literal["create_channel"] = "create_channel"
    team_id: str | None = None
    name: str


class CreatePlan(_Op):
    op: Literal["create_plan"] = "create_plan"
    team_id: str | None = None
    title: str


class CreateTag(_Op):
    op: Literal["create_tag"] = "create_tag"
    team_id: str | None = None
    name: str
    user_ids: tuple[str, ...] = Field(description="At least one; more than 25 are added after creation")


class AddTagMember(_Op):
    op: Literal["add_tag_member"] = "add_tag_member"
    team_id: str
    tag_id: str
    user_id: str


class RemoveTagMember(_Op):
    op: Literal["remove_tag_member"] = "remove_tag_member"
    team_id: str
    tag_id: str
    member_id: str
    user_id: str


class DeleteTag(_Op):
    op: Literal["delete_tag"] = "delete_tag"
    team_id: str
    tag_id: str


class ArchiveTeam(_Op):
    op: Literal["archive_team"] = "archive_team"
    team_id: str


class UnarchiveTeam(_Op):
    op: Literal["unarchive_team"] = "unarchive_team"
    team_id: str


Operation = Annotated[
    CreateTeam
    | AdoptTeam
    | UpdateTeam
    | AddMembers
    | RemoveMember
    | SetRole
    | CreateChannel
    | CreatePlan
    | CreateTag
    | AddTagMember
    | RemoveTagMember
    | DeleteTag
    | ArchiveTeam
    | UnarchiveTeam,
    Field(discriminator="op"),
]


class Plan(_Model):
    operations: tuple[Operation, ...] = ()
    held: tuple[Operation, ...] = Field(default=(), description="Computed but held by a safety rail")
    problems: tuple[Problem, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.operations
