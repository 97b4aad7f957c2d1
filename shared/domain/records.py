"""Dynamics records and their connections to Teams channels, as the app understands them.

Read from Dataverse (accounts, opportunities, users, `msdyn_teamscollaboration` rows,
`sharepointdocumentlocation` rows) and from Graph (channels, tabs, files folders).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordType(StrEnum):
    ACCOUNT = "account"
    OPPORTUNITY = "opportunity"

    @property
    def type_code(self) -> int:
        """Dataverse object type codes (account 1, opportunity 3)."""
        return {RecordType.ACCOUNT: 1, RecordType.OPPORTUNITY: 3}[self]

    @property
    def entity_set(self) -> str:
        return {RecordType.ACCOUNT: "accounts", RecordType.OPPORTUNITY: "opportunities"}[self]


class OpportunityState(IntEnum):
    OPEN = 0
    WON = 1
    LOST = 2


class RecordRef(_Model):
    type: RecordType
    id: str

    def __str__(self) -> str:
        return f"{self.type.value}:{self.id}"


class Account(_Model):
    id: str
    name: str
    revenue: float | None = None
    top_account: bool = False
    active: bool = True
    owner_id: str | None = None  # systemuser or team id
    owning_team_id: str | None = None
    etag: str = ""

    @property
    def ref(self) -> RecordRef:
        return RecordRef(type=RecordType.ACCOUNT, id=self.id)


class Opportunity(_Model):
    id: str
    name: str
    account_id: str | None = None
    estimated_value: float | None = None
    state: OpportunityState = OpportunityState.OPEN
    owner_id: str | None = None
    etag: str = ""

    @property
    def ref(self) -> RecordRef:
        return RecordRef(type=RecordType.OPPORTUNITY, id=self.id)


class CrmUser(_Model):
    id: str
    name: str = ""
    entra_object_id: str | None = None
    upn: str | None = None


class CrmTeam(_Model):
    id: str
    name: str


class AccountScope(_Model):
    """Everything a pass for one account reads from Dataverse."""

    account: Account | None
    account_id: str
    opportunities: tuple[Opportunity, ...] = ()
    users: dict[str, CrmUser] = Field(default_factory=dict)  # systemuserid -> user
    owning_team: CrmTeam | None = None


class Collaboration(_Model):
    """A `msdyn_teamscollaboration` row: the record <-> channel link Dynamics shows."""

    id: str
    regarding: RecordRef
    team_id: str  # the team's group id (msdyn_groupid; msdyn_teamid holds the same for us)
    channel_id: str
    channel_name: str = ""
    channel_folder_url: str = ""
    team_site_url: str = ""
    etag: str = ""


class DocumentLocation(_Model):
    """A `sharepointdocumentlocation` under a record (absolute URL of the channel's folder)."""

    id: str
    regarding: RecordRef
    name: str
    absolute_url: str
    etag: str = ""


class SharePointSite(_Model):
    id: str
    name: str
    absolute_url: str


class ChannelTab(_Model):
    """A channel tab (Graph teamsTab) with the app it belongs to."""

    id: str
    name: str
    app_id: str
    entity_id: str = ""
    content_url: str = ""
    website_url: str = ""


class FilesFolder(_Model):
    """A channel's folder in SharePoint (Graph channel filesFolder driveItem)."""

    id: str
    drive_id: str
    name: str
    web_url: str


class DriveFile(_Model):
    id: str
    name: str
    web_url: str
    size: int = 0
