"""One records pass for one account: read the truth, plan, act, record. The reconcile contract of
shared/sync/team_pass.py, for record-connected channels:

Level-based and idempotent: the pass reads the account, its opportunities and owners from
Dataverse, the connections that exist (collaboration rows, document locations) and the teams,
channels, tabs and folders in Teams, plans purely (shared/records/plan.py) and executes through
the gateways. Duplicate, late or reordered events only cause a pass that finds nothing to do.
Transient errors raise (the orchestration retries the activity; 429s are already waited out
inside both clients); what retrying cannot fix is reported as a problem.

What the pass remembers per account (StateStore value, partition "records"): the teams it
created per team key, the channels it owns in adopted teams, and channels a person deleted in
Teams (never re-created). A crash between creating a team and remembering it is healed by
adopting the team that carries the desired name, as provisioning does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from shared.control import write_gate
from shared.domain.ids import is_graph_guid
from shared.domain.records import (
    AccountScope,
    ChannelTab,
    Collaboration,
    DocumentLocation,
    DriveFile,
    FilesFolder,
    RecordRef,
    RecordType,
    SharePointSite,
)
from shared.domain.teams import Channel, Identity, Member, MemberRole, Team
from shared.graph.errors import NotFound
from shared.records.desired import desired, pass_key
from shared.records.intake import CHANNEL_INDEX
from shared.records.model import (
    ActualRecords,
    AddMembers,
    ArchiveTeam,
    ChannelState,
    Connection,
    CreateChannel,
    CreateLocation,
    CreateRow,
    CreateTab,
    CreateTeam,
    DeleteLocation,
    DeleteRow,
    DeleteTab,
    DesiredRecords,
    InstallApp,
    Op,
    RecordsPlan,
    TabState,
    TeamState,
)
from shared.records.plan import plan, row_folder_url
from shared.records.template import Template
from shared.settings import Settings
from shared.spine import BUSY, PassResult
from shared.state import StateStore

PARTITION = "records"
STATUS = "records-status"
_ENTITY = re.compile(r"^(account|opportunity):([0-9a-f-]{36})$")


class RecordsReader(Protocol):
    async def read_scope(self, account_id: str, *, team_name: bool = True) -> AccountScope: ...

    async def collaborations(self, regarding: Any) -> list[Collaboration]: ...

    async def collaborations_in_channels(self, channel_ids: Any) -> list[Collaboration]: ...

    async def collaborations_about(self, regarding: Any, channel_ids: Any) -> list[Collaboration]: ...

    async def locations(self, regarding: Any) -> list[DocumentLocation]: ...

    async def create_collaboration(
        self,
        *,
        regarding: RecordRef,
        team_id: str,
        team_name: str,
        channel_id: str,
        channel_name: str,
        channel_type: str,
        folder_url: str,
        site_url: str,
        tenant_id: str,
        app_id: str,
        content_url: str,
        web_url: str,
    ) -> str: ...

    async def delete_collaboration(self, collaboration_id: str) -> bool: ...

    async def create_location(
        self, *, regarding: RecordRef, name: str, absolute_url: str, site_id: str
    ) -> str: ...

    async def delete_location(self, location_id: str) -> bool: ...

    async def ensure_site(self, absolute_url: str, name: str) -> SharePointSite: ...


class RecordsGateway(Protocol):
    async def resolve_upns(self, upns: Any) -> dict[str, Identity]: ...

    async def get_team_state(self, team_id: str, plan_title: str | None = None) -> Team | None: ...

    async def get_team(self, team_id: str) -> Team | None: ...

    async def list_members(self, team_id: str) -> list[Member]: ...

    async def find_teams(
        self, *, mail_nickname: str | None = None, display_name: str | None = None
    ) -> list[Team]: ...

    async def create_team(self, *, display_name: str, owner_id: str) -> str: ...

    async def add_members(self, team_id: str, people: Any, *, new_team: bool = False) -> Any: ...

    async def list_channels(self, team_id: str) -> list[Channel]: ...

    async def create_channel(
        self, team_id: str, name: str, description: str = ""
    ) -> tuple[Channel, bool]: ...

    async def archive_team(self, team_id: str) -> None: ...

    async def installed_app_ids(self, team_id: str) -> set[str]: ...

    async def install_app(self, team_id: str, app_id: str) -> bool: ...

    async def list_tabs(self, team_id: str, channel_id: str) -> list[ChannelTab]: ...

    async def create_tab(self, team_id: str, channel_id: str, **kw: Any) -> ChannelTab: ...

    async def delete_tab(self, team_id: str, channel_id: str, tab_id: str) -> bool: ...

    async def files_folder(self, team_id: str, channel_id: str) -> FilesFolder: ...

    async def files_at(self, url: str) -> list[DriveFile] | None: ...


@dataclass
class Memory:
    teams: dict[str, str] = field(default_factory=dict)  # team key -> team id (created or adopted)
    channels: dict[str, list[str]] = field(default_factory=dict)  # team key -> channel ids owned
    deleted: set[str] = field(default_factory=set)  # "<team key>/<channel>"

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> Memory:
        data = data or {}
        return cls(
            dict(data.get("teams", {})),
            {k: list(v) for k, v in data.get("channels", {}).items()},
            set(data.get("deleted", [])),
        )

    def dump(self) -> dict[str, Any]:
        return {"teams": self.teams, "channels": self.channels, "deleted": sorted(self.deleted)}


@dataclass(frozen=True, kw_only=True)
class RecordsPassResult(PassResult):
    """outcome: converged | changed | would_change (dry run) | busy (the spine's)."""

    operations: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"operations": len(self.operations), "problems": len(self.problems)}


def busy_result(key: str) -> RecordsPassResult:
    """The account's lease was held by another pass (shared.spine.run_pass)."""
    return RecordsPassResult(key=key, outcome=BUSY)


def describe(ops: tuple[Op, ...]) -> list[dict[str, str]]:
    out = []
    for op in ops:
        what: dict[str, str] = {"op": op.op, "reason": op.reason}
        conn = getattr(op, "connection", None)
        if conn is not None:
            what.update(record=str(conn.record), team=conn.team_key, channel=conn.channel)
        record = getattr(op, "record", None)
        if record is not None:
            what["record"] = str(record)
        team = getattr(op, "team_key", None)
        if team is not None:
            what["team"] = team
        out.append(what)
    return out


async def directory_for(template: Template, gateway: RecordsGateway) -> dict[str, str]:
    """The template's people (object ids as they are, UPNs looked up) -> Entra object ids."""
    names = {n for p in template.patterns for n in (*getattr(p, "members", ()), *getattr(p, "guests", ()))}
    out = {n.lower(): n.lower() for n in names if is_graph_guid(n)}
    upns = sorted(n for n in names if not is_graph_guid(n))
    if upns:
        found = {k.lower(): v for k, v in (await gateway.resolve_upns(upns)).items()}
        out.update({u.lower(): found[u.lower()].user_id for u in upns if u.lower() in found})
    return out


def _tab_record(tab: ChannelTab, app_id: str) -> RecordRef | None:
    if tab.app_id != app_id:
        return None
    m = _ENTITY.match(tab.entity_id)
    return RecordRef(type=RecordType(m.group(1)), id=m.group(2)) if m else None


async def _team_view(
    gateway: RecordsGateway, team_id: str, *, members: bool, archived: bool
) -> tuple[list[Channel], frozenset[str], bool] | None:
    """What a pass needs of a team, reading only that: its channels (None: the team is gone), its
    members (not for adopted teams: their membership is not the app's), its archived flag (only
    when the template archives it)."""
    try:
        channels = await gateway.list_channels(team_id)
    except NotFound:
        return None
    ids = frozenset(m.user_id for m in await gateway.list_members(team_id)) if members else frozenset()
    is_archived = False
    if archived:
        team = await gateway.get_team(team_id)
        is_archived = bool(team and team.archived)
    return channels, ids, is_archived


async def read_actual(
    want: DesiredRecords,
    memory: Memory,
    scope: AccountScope,
    dataverse: RecordsReader,
    gateway: RecordsGateway,
    app_id: str,
) -> ActualRecords:
    """Reads, per team: channels (+ members of the app's own teams, + archived when it matters) and
    the apps installed; per own channel: its Dynamics tabs, and its folder only when no row of the
    app already names it; then the rows and locations of the scope in three Dataverse queries."""
    found: dict[str, tuple[str, list[Channel], frozenset[str], bool, bool]] = {}
    own: dict[str, set[str]] = {}  # team id -> the pass's channel ids in it
    for tk in sorted(set(want.teams) | set(memory.teams)):
        dt = want.teams.get(tk)
        adopted = dt is not None and dt.adopt_id is not None
        archive = dt is not None and dt.archived
        team_id = memory.teams.get(tk) or (dt.adopt_id if dt else None)
        view = await _team_view(gateway, team_id, members=not adopted, archived=archive) if team_id else None
        if view is None and dt is not None and not adopted and dt.name:
            same = [t for t in await gateway.find_teams(display_name=dt.name) if t.display_name == dt.name]
            if len(same) == 1:  # created by a pass that crashed before remembering it
                team_id = same[0].team_id
                view = await _team_view(gateway, team_id, members=True, archived=archive)
                if view is not None:
                    memory.teams[tk] = team_id
        if view is None or team_id is None:
            continue
        channels, members, archived = view
        wanted_names = {c.name.casefold() for c in dt.channels} if dt else set()
        remembered = set(memory.channels.get(tk, []))
        mine = [
            c
            for c in channels
            if c.id is not None and (not adopted or c.name.casefold() in wanted_names or c.id in remembered)
        ]
        installed = app_id in await gateway.installed_app_ids(team_id) if mine or dt else False
        found[tk] = (team_id, mine, members, archived, installed)
        own[team_id] = {c.id for c in mine if c.id} | remembered

    refs = (
        [scope.account.ref]
        if scope.account
        else [RecordRef(type=RecordType.ACCOUNT, id=scope.account_id.lower())]
    )
    refs += [o.ref for o in scope.opportunities]
    channel_ids = sorted({c for ids in own.values() for c in ids})
    owned_teams = {found[tk][0] for tk in found if not (want.teams.get(tk) and want.teams[tk].adopt_id)}
    kept = tuple(
        r
        for r in await dataverse.collaborations_about([ref.id for ref in refs], channel_ids)
        if r.team_id in own and (r.team_id in owned_teams or r.channel_id in own[r.team_id])
    )
    refs += [r.regarding for r in kept if r.regarding not in refs]
    locations = tuple(await dataverse.locations(refs))

    known_folder = {r.channel_id: row_folder_url(r) for r in kept if r.channel_folder_url}
    teams: dict[str, TeamState] = {}
    tabs: list[TabState] = []
    for tk, (team_id, mine, members, archived, installed) in found.items():
        states = []
        for c in mine:
            assert c.id is not None
            private = c.membership_type != "standard"
            folder = None
            if not private:
                folder = known_folder.get(c.id) or (await gateway.files_folder(team_id, c.id)).web_url
            states.append(ChannelState(id=c.id, name=c.name, private=private, folder_url=folder))
            if installed:
                for tab in await gateway.list_tabs(team_id, c.id):
                    ref = _tab_record(tab, app_id)
                    if ref is not None:
                        tabs.append(TabState(team_id, c.id, tab.id, ref))
        teams[tk] = TeamState(
            key=tk,
            team_id=team_id,
            channels=tuple(states),
            app_installed=installed,
            member_ids=members,
            archived=archived,
        )
    return ActualRecords(
        teams=teams,
        tabs=tuple(tabs),
        rows=kept,
        locations=locations,
        deleted_channels=frozenset(memory.deleted),
    )


def _site_of(folder_url: str) -> str:
    """`https://x.sharepoint.com/sites/s/Shared%20Documents/Folder` -> `https://x.sharepoint.com/sites/s`."""
    return folder_url.rsplit("/", 2)[0]


def record_url(settings: Settings, record: RecordRef) -> str:
    """The model-driven app's record page (what the Dynamics tab opens). [Shape from a tab read back
    via Graph, mattipaukkonen.com/2020/04/14; not documented by Microsoft.]"""
    base = settings.dataverse.base_url.rstrip("/")
    app = f"appid={settings.records.app_module_id}&" if settings.records.app_module_id else ""
    return f"{base}/main.aspx?{app}pagetype=entityrecord&etn={record.type.value}&id={record.id}"


class Executor:
    """Runs a records plan through the gateways, resolving team keys and channel names to ids."""

    def __init__(
        self,
        *,
        dataverse: RecordsReader,
        gateway: RecordsGateway,
        state: StateStore,
        settings: Settings,
        key: str,
        memory: Memory,
        want: DesiredRecords,
    ) -> None:
        self.dv, self.gw, self.state, self.settings, self.key, self.memory, self.want = (
            dataverse,
            gateway,
            state,
            settings,
            key,
            memory,
            want,
        )
        self.channels: dict[str, list[Channel]] = {}
        self.folders: dict[str, FilesFolder] = {}
        self.new_teams: set[str] = set()
        self.sites: dict[str, SharePointSite] = {}

    async def remember(self) -> None:
        await self.state.put_value(PARTITION, self.key, self.memory.dump())

    def team_id(self, team_key: str) -> str:
        tid = self.memory.teams.get(team_key) or (
            self.want.teams[team_key].adopt_id if team_key in self.want.teams else None
        )
        if not tid:
            raise RuntimeError(f"no team for {team_key}")
        return tid

    async def channel(self, team_key: str, name: str) -> Channel:
        tid = self.team_id(team_key)
        if tid not in self.channels:
            self.channels[tid] = await self.gw.list_channels(tid)
        found = next((c for c in self.channels[tid] if c.name.casefold() == name.casefold()), None)
        if found is None or found.id is None:
            self.channels[tid] = await self.gw.list_channels(tid)
            found = next((c for c in self.channels[tid] if c.name.casefold() == name.casefold()), None)
        if found is None or found.id is None:
            raise RuntimeError(f"channel {name!r} of {team_key} not found")
        return found

    async def folder(self, team_key: str, channel: Channel) -> FilesFolder:
        assert channel.id is not None
        if channel.id not in self.folders:
            self.folders[channel.id] = await self.gw.files_folder(self.team_id(team_key), channel.id)
        return self.folders[channel.id]

    async def run(self, op: Op) -> None:
        app_id = self.settings.records.teams_app_id
        if isinstance(op, CreateTeam):
            tid = await self.gw.create_team(display_name=op.name, owner_id=op.owner_id)
            self.memory.teams[op.team_key] = tid
            self.new_teams.add(op.team_key)
            await self.remember()  # before anything else: a crash now must not create it twice
        elif isinstance(op, AddMembers):
            role = MemberRole.OWNER if op.owners else MemberRole.MEMBER
            await self.gw.add_members(
                self.team_id(op.team_key),
                [(u, role) for u in op.user_ids],
                new_team=op.team_key in self.new_teams,
            )
        elif isinstance(op, CreateChannel):
            tid = self.team_id(op.team_key)
            created, _ = await self.gw.create_channel(tid, op.name)
            self.channels.pop(tid, None)
            cid = created.id or (await self.channel(op.team_key, op.name)).id
            if cid and self.want.teams.get(op.team_key) and self.want.teams[op.team_key].adopt_id:
                self.memory.channels.setdefault(op.team_key, []).append(cid)
                await self.remember()
        elif isinstance(op, InstallApp):
            await self.gw.install_app(self.team_id(op.team_key), app_id)
        elif isinstance(op, ArchiveTeam):
            await self.gw.archive_team(self.team_id(op.team_key))
        elif isinstance(op, CreateRow):
            await self._row(op.connection)
        elif isinstance(op, CreateLocation):
            c = op.connection
            ch = await self.channel(c.team_key, c.channel)
            folder = await self.folder(c.team_key, ch)
            site_url = _site_of(folder.web_url)
            if site_url not in self.sites:  # one lookup per site and pass, not per location
                self.sites[site_url] = await self.dv.ensure_site(site_url, site_url.rsplit("/", 1)[-1])
            site = self.sites[site_url]
            await self.dv.create_location(
                regarding=c.record, name=f"{c.channel} (Teams)", absolute_url=folder.web_url, site_id=site.id
            )
        elif isinstance(op, CreateTab):
            c = op.connection
            ch = await self.channel(c.team_key, c.channel)
            assert ch.id is not None
            url = record_url(self.settings, c.record)
            await self.gw.create_tab(
                self.team_id(c.team_key),
                ch.id,
                app_id=app_id,
                name=self.settings.records.tab_display_name,
                entity_id=str(c.record),
                content_url=url,
                website_url=url,
            )
        elif isinstance(op, DeleteLocation):
            await self.dv.delete_location(op.location_id)
        elif isinstance(op, DeleteTab):
            await self.gw.delete_tab(op.team_id, op.channel_id, op.tab_id)
        elif isinstance(op, DeleteRow):
            await self.dv.delete_collaboration(op.row_id)
        else:  # pragma: no cover
            raise TypeError(op)

    async def _row(self, c: Connection) -> None:
        ch = await self.channel(c.team_key, c.channel)
        assert ch.id is not None
        tid = self.team_id(c.team_key)
        private = ch.membership_type != "standard"
        folder_url = "" if private else (await self.folder(c.team_key, ch)).web_url
        site = _site_of(folder_url) if folder_url else ""
        url = record_url(self.settings, c.record)
        await self.state.put_value(CHANNEL_INDEX, ch.id, {"key": self.key})
        await self.dv.create_collaboration(
            regarding=c.record,
            team_id=tid,
            team_name=self.want.teams[c.team_key].name or c.team_key,
            channel_id=ch.id,
            channel_name=ch.name,
            channel_type=ch.membership_type,
            folder_url=urlsplit(folder_url).path if folder_url else "",
            site_url=site,
            tenant_id=self.settings.graph.tenant_id,
            app_id=self.settings.records.teams_app_id,
            content_url=url,
            web_url=url,
        )


async def records_pass(
    account_id: str,
    *,
    dataverse: RecordsReader,
    gateway: RecordsGateway,
    state: StateStore,
    settings: Settings,
    template: Template,
    dry_run: bool = False,
) -> RecordsPassResult:
    """One pass for one account. Run it through `shared.spine.run_pass` (the account's lease and
    the covered request number); a dry run writes nothing and needs no lease."""
    key = pass_key(account_id)
    by_name = any(
        not is_graph_guid(t) for p in template.patterns for t in getattr(p, "teams", {})
    )  # a team_based mapping by Dataverse team name needs the owning team's name
    scope = await dataverse.read_scope(account_id, team_name=by_name)
    want = desired(scope, template, await directory_for(template, gateway))
    memory = Memory.load(await state.get_value(PARTITION, key))
    actual = await read_actual(want, memory, scope, dataverse, gateway, settings.records.teams_app_id)
    p: RecordsPlan = plan(want, actual)
    memory.deleted |= set(p.deleted_channels)
    outcome = "converged" if not p.operations else ("would_change" if dry_run else "changed")
    result = RecordsPassResult(
        key=key,
        outcome=outcome,
        operations=describe(p.operations),
        problems=list(p.problems),
        dry_run=dry_run,
    )
    if dry_run:
        return result
    if p.operations and (gate := await write_gate(state, settings)).suspended:
        # Kill switch (docs/control.md): planned and reported, nothing written to Teams or Dataverse.
        result = RecordsPassResult(
            key=key,
            outcome="suspended",
            operations=describe(p.operations),
            problems=[*p.problems, f"suspended: writes off ({gate.reason}); planned, not written"],
            dry_run=False,
        )
        await state.put_value(STATUS, key, result.to_json())
        return result
    if p.operations:
        executor = Executor(
            dataverse=dataverse,
            gateway=gateway,
            state=state,
            settings=settings,
            key=key,
            memory=memory,
            want=want,
        )
        await executor.remember()
        for op in p.operations:
            await executor.run(op)
    for tk in [k for k in memory.teams if k not in want.teams and k not in actual.teams]:
        del memory.teams[tk]  # a team that no longer exists and is no longer wanted
    await state.put_value(PARTITION, key, memory.dump())
    await state.put_value(STATUS, key, result.to_json())
    return result
