"""Desired and actual record connections, and the operations of a plan (each with its reason)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.records import Collaboration, DocumentLocation, RecordRef

GENERAL = "General"


@dataclass(frozen=True, order=True)
class Connection:
    """`record` shown in `channel` of the team `team_key` (tab + collaboration row + location)."""

    record: RecordRef
    team_key: str
    channel: str


@dataclass(frozen=True)
class DesiredChannel:
    name: str
    guests: bool = False  # guest-facing: never a record tab


@dataclass(frozen=True)
class DesiredTeam:
    key: str  # "team:<id>" (adopted), "account:<id>", "opportunity:<id>"
    name: str
    adopt_id: str | None = None  # an existing team to use as it is (team-based)
    owners: tuple[str, ...] = ()  # Entra object ids
    members: tuple[str, ...] = ()
    guests: tuple[str, ...] = ()
    channels: tuple[DesiredChannel, ...] = ()
    archived: bool = False


@dataclass(frozen=True)
class DesiredRecords:
    key: str  # the pass key: "account:<id>"
    teams: dict[str, DesiredTeam]
    connections: frozenset[Connection]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelState:
    id: str
    name: str
    private: bool = False
    folder_url: str | None = None  # the filesFolder webUrl, once read


@dataclass(frozen=True)
class TeamState:
    key: str
    team_id: str
    channels: tuple[ChannelState, ...] = ()
    app_installed: bool = False
    member_ids: frozenset[str] = frozenset()
    archived: bool = False

    def channel(self, name: str) -> ChannelState | None:
        return next((c for c in self.channels if c.name.casefold() == name.casefold()), None)

    def channel_by_id(self, channel_id: str) -> ChannelState | None:
        return next((c for c in self.channels if c.id == channel_id), None)


@dataclass(frozen=True)
class TabState:
    team_id: str
    channel_id: str
    tab_id: str
    record: RecordRef


@dataclass(frozen=True)
class ActualRecords:
    teams: dict[str, TeamState] = field(default_factory=dict)  # by team key (found or recorded)
    tabs: tuple[TabState, ...] = ()
    rows: tuple[Collaboration, ...] = ()  # rows in the managed teams
    locations: tuple[DocumentLocation, ...] = ()  # locations of the scope's records
    deleted_channels: frozenset[str] = frozenset()  # "<team key>/<channel>" a person deleted


# --- operations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    reason: str

    @property
    def op(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class CreateTeam(Op):
    team_key: str
    name: str
    owner_id: str


@dataclass(frozen=True)
class AddMembers(Op):
    team_key: str
    user_ids: tuple[str, ...]
    owners: bool = False


@dataclass(frozen=True)
class CreateChannel(Op):
    team_key: str
    name: str


@dataclass(frozen=True)
class InstallApp(Op):
    team_key: str


@dataclass(frozen=True)
class ArchiveTeam(Op):
    team_key: str


@dataclass(frozen=True)
class CreateRow(Op):
    connection: Connection


@dataclass(frozen=True)
class CreateLocation(Op):
    connection: Connection


@dataclass(frozen=True)
class CreateTab(Op):
    connection: Connection


@dataclass(frozen=True)
class DeleteLocation(Op):
    location_id: str
    record: RecordRef


@dataclass(frozen=True)
class DeleteTab(Op):
    team_id: str
    channel_id: str
    tab_id: str
    record: RecordRef


@dataclass(frozen=True)
class DeleteRow(Op):
    row_id: str
    record: RecordRef


@dataclass(frozen=True)
class RecordsPlan:
    key: str
    operations: tuple[Op, ...]
    problems: tuple[str, ...]
    # '<team key>/<channel>' a person deleted in Teams: the pass remembers them (never re-created)
    deleted_channels: frozenset[str] = frozenset()
