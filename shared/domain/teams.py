"""Microsoft Teams state as the app sees it: teams, owners, members, channels, plans.

People are identified by Entra object id (`user_id`); UPNs are carried for humans and reports.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TeamKind(StrEnum):
    STORE = "store"
    REGION = "region"
    COMMUNICATIONS = "communications"


class TeamKey(_Model):
    """What a team stands for in Commerce: a store, a region, or the communications team."""

    kind: TeamKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def store(cls, number: str) -> TeamKey:
        return cls(kind=TeamKind.STORE, id=number)

    @classmethod
    def parse(cls, text: str) -> TeamKey:
        kind, _, ident = text.partition(":")
        return cls(kind=TeamKind(kind), id=ident)


class MemberRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class Visibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class Identity(_Model):
    """A resolved Entra user."""

    user_id: str
    upn: str | None = None
    display_name: str | None = None
    # A Microsoft Teams service plan is enabled (assignedPlans); None: not looked up.
    teams_licensed: bool | None = None


class Member(_Model):
    user_id: str
    role: MemberRole = MemberRole.MEMBER
    upn: str | None = None
    membership_id: str | None = Field(default=None, description="conversationMember id in the team")


class Channel(_Model):
    name: str
    id: str | None = None
    membership_type: str = "standard"


class PlanRef(_Model):
    plan_id: str
    title: str


class Tag(_Model):
    """A team's tag (teamworkTag) with its members: user id -> tag member id."""

    tag_id: str
    name: str
    members: dict[str, str] = Field(default_factory=dict)


class Team(_Model):
    """A team as read from Graph."""

    team_id: str
    display_name: str
    description: str | None = None
    mail_nickname: str | None = None
    visibility: Visibility = Visibility.PRIVATE
    archived: bool = False
    members: tuple[Member, ...] = ()
    channels: tuple[Channel, ...] = ()
    plan: PlanRef | None = None
    tags: tuple[Tag, ...] | None = None  # None: not read (role tags are off)

    @property
    def owners(self) -> frozenset[str]:
        return frozenset(m.user_id for m in self.members if m.role is MemberRole.OWNER)

    @property
    def plain_members(self) -> frozenset[str]:
        return frozenset(m.user_id for m in self.members if m.role is MemberRole.MEMBER)


class ActualTeam(_Model):
    """What exists for one key: the mapped team (if any) and who the app itself put there."""

    key: TeamKey
    team: Team | None = None
    managed_user_ids: frozenset[str] = Field(
        default=frozenset(), description="Users the integration added; others are left alone in flexible mode"
    )
    mapped: bool = Field(
        default=True,
        description="False: the team was found through a mapping the app has not recorded yet (e.g. "
        "Commerce's mapping row); the plan adopts it",
    )


class ActualState(_Model):
    teams: dict[str, ActualTeam] = Field(default_factory=dict, description="By str(TeamKey)")

    def get(self, key: TeamKey) -> ActualTeam:
        return self.teams.get(str(key)) or ActualTeam(key=key)
