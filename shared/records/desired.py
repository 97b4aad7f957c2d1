"""Desired connections for one account (its opportunities included) from the template. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.records import Account, AccountScope, Opportunity, OpportunityState, RecordRef, RecordType
from shared.records.model import GENERAL, Connection, DesiredChannel, DesiredRecords, DesiredTeam
from shared.records.template import AccountBased, OnClose, ProjectBased, TeamBased, Template

MAX_CHANNEL = 50
_FORBIDDEN = set("~#%&*{}+/\\:<>?|'\",")


def channel_name(text: str) -> str:
    """A valid Teams channel name for a record: Teams' forbidden characters dropped, no leading
    `_`/`.` or trailing `.`, at most 50 characters (local/graph/channels.py lists the rules)."""
    cleaned = "".join(c for c in text if c not in _FORBIDDEN and ord(c) >= 0x20).replace("..", ".")
    cleaned = cleaned.strip().lstrip("_.").strip()[:MAX_CHANNEL].rstrip(". ")
    return cleaned or "Record"


def pass_key(account_id: str) -> str:
    return f"account:{account_id.lower()}"


def _entra(scope: AccountScope, crm_user: str | None) -> str | None:
    user = scope.users.get(crm_user or "")
    return user.entra_object_id if user else None


def _resolve(names: tuple[str, ...], directory: Mapping[str, str]) -> tuple[tuple[str, ...], list[str]]:
    found, missing = [], []
    for n in names:
        ident = directory.get(n.lower())
        (found.append(ident) if ident else missing.append(n))
    return tuple(dict.fromkeys(found)), missing


def _open(o: Opportunity) -> bool:
    return o.state is OpportunityState.OPEN


def _qualifies(rule: AccountBased, account: Account) -> bool:
    by_flag = rule.flag and account.top_account
    by_revenue = rule.min_revenue is not None and (account.revenue or 0) >= rule.min_revenue
    return by_flag or by_revenue


def desired(scope: AccountScope, template: Template, directory: Mapping[str, str]) -> DesiredRecords:
    """`directory`: UPN (lower case) or object id -> Entra object id, for the template's people."""
    key = pass_key(scope.account_id)
    account = scope.account
    if account is None or not account.active:
        return DesiredRecords(key=key, teams={}, connections=frozenset())
    teams: dict[str, DesiredTeam] = {}
    conns: set[Connection] = set()
    problems: list[str] = []
    acc = account.ref
    handled: set[str] = set()
    by_kind = {p.kind: p for p in template.patterns}

    project = by_kind.get("project_based")
    if isinstance(project, ProjectBased):
        members, missing = _resolve(project.members, directory)
        guests, missing_guests = _resolve(project.guests, directory)
        if missing or missing_guests:
            problems.append(
                f"template people not found in the directory: {len(missing) + len(missing_guests)}"
            )
        for o in scope.opportunities:
            if (o.estimated_value or 0) < project.min_estimated_value:
                continue
            handled.add(o.id)
            closed = not _open(o)
            if closed and project.on_close is OnClose.DISCONNECT:
                continue
            tk = f"opportunity:{o.id}"
            owner = _entra(scope, o.owner_id)
            channels = (
                DesiredChannel(GENERAL),
                *(DesiredChannel(c.name, c.guests) for c in project.extra_channels),
            )
            teams[tk] = DesiredTeam(
                key=tk,
                name=project.team_name.format(opportunity=o.name, account=account.name)[:256],
                owners=(owner,) if owner else (),
                members=tuple(m for m in members if m != owner),
                guests=tuple(g for g in guests if g != owner and g not in members),
                channels=channels,
                archived=closed and project.on_close is OnClose.ARCHIVE,
            )
            conns.add(Connection(acc, tk, GENERAL))
            conns.add(Connection(o.ref, tk, GENERAL))
            conns.update(Connection(o.ref, tk, c.name) for c in project.extra_channels if c.connected)

    rule = by_kind.get("account_based")
    team_rule = by_kind.get("team_based")
    rest = [o for o in scope.opportunities if o.id not in handled]
    if isinstance(rule, AccountBased) and _qualifies(rule, account):
        tk = f"account:{account.id}"
        owner = _entra(scope, account.owner_id)
        kept = [o for o in rest if _open(o) or rule.on_close is OnClose.KEEP]
        names: dict[str, Opportunity] = {}
        for o in sorted(kept, key=lambda o: o.id):
            base = channel_name(o.name)
            name, n = base, 2
            while name.casefold() in {k.casefold() for k in names} or name.casefold() == GENERAL.casefold():
                suffix = f" ({n})"
                name, n = base[: MAX_CHANNEL - len(suffix)] + suffix, n + 1
            names[name] = o
        member_ids = tuple(
            dict.fromkeys(m for m in (_entra(scope, o.owner_id) for o in rest) if m and m != owner)
        )
        teams[tk] = DesiredTeam(
            key=tk,
            name=rule.team_name.format(account=account.name)[:256],
            owners=(owner,) if owner else (),
            members=member_ids,
            channels=(DesiredChannel(GENERAL), *(DesiredChannel(n) for n in names)),
        )
        conns.add(Connection(acc, tk, GENERAL))
        conns.update(Connection(o.ref, tk, n) for n, o in names.items())
    elif isinstance(team_rule, TeamBased) and account.owning_team_id:
        group = team_rule.teams.get(account.owning_team_id) or team_rule.teams.get(
            scope.owning_team.name if scope.owning_team else ""
        )
        if group:
            tk = f"team:{group}"
            name = channel_name(account.name)
            teams[tk] = DesiredTeam(key=tk, name="", adopt_id=group, channels=(DesiredChannel(name),))
            conns.add(Connection(acc, tk, name))
            if team_rule.connect_open_opportunities:
                conns.update(Connection(o.ref, tk, name) for o in rest if _open(o))
    return DesiredRecords(key=key, teams=teams, connections=frozenset(conns), problems=tuple(problems))


def record_ref(kind: str, ident: str) -> RecordRef:
    return RecordRef(type=RecordType(kind), id=ident.lower())
