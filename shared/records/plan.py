"""Desired vs actual record connections -> the smallest list of operations, each with a reason.

Pure. Rules (docs/records.md):
- A connection is three things: the `msdyn_teamscollaboration` row (created first, deleted last: it
  is what marks a location or tab as the app's), the document location (not for private
  channels: Dynamics shows no documents for them -- reported), and the Dynamics tab.
- A channel a person deleted in Teams is not re-created: its row and location are removed and
  the deletion reported (no broken link on the record).
- One tab, one row and one location per record and channel: extras are removed.
- Guest channels never get a record tab (the template refuses to connect them; desired() never
  connects them; the plan refuses it again).
- Adopted teams (team-based) keep their membership; the app's own teams get the people the
  template names (added, never removed).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.domain.records import Collaboration, RecordRef
from shared.records.model import (
    GENERAL,
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
    TeamState,
)


def same_url(a: str, b: str) -> bool:
    return a.rstrip("/").casefold() == b.rstrip("/").casefold()


def row_folder_url(row: Collaboration) -> str:
    """The absolute folder URL of a row (its site's scheme and host + the server-relative folder)."""
    rel = row.channel_folder_url
    if rel.startswith("http"):
        return rel
    site = urlsplit(row.team_site_url)
    return f"{site.scheme}://{site.netloc}{rel}" if site.netloc else rel


def deleted_channels(actual: ActualRecords) -> set[str]:
    """'<team key>/<channel name>' for rows whose channel is gone from an existing team."""
    by_team = {ts.team_id: ts for ts in actual.teams.values()}
    out = set(actual.deleted_channels)
    for row in actual.rows:
        ts = by_team.get(row.team_id)
        if ts is not None and ts.channel_by_id(row.channel_id) is None and row.channel_name:
            out.add(f"{ts.key}/{row.channel_name}")
    return out


def plan(want: DesiredRecords, actual: ActualRecords) -> RecordsPlan:
    creates: list[Op] = []
    problems = list(want.problems)
    gone = deleted_channels(actual)
    guest_channels = {(t.key, c.name.casefold()) for t in want.teams.values() for c in t.channels if c.guests}
    buildable: set[str] = set()

    for tk, dt in sorted(want.teams.items()):
        ts = actual.teams.get(tk)
        present: set[str]
        if ts is None:
            if dt.adopt_id:
                problems.append(
                    f"{tk}: the team the template names does not exist (or the app cannot read it)"
                )
                continue
            if not dt.owners:
                problems.append(f"{tk}: no owner with an Entra account; the team is not created")
                continue
            creates.append(CreateTeam(f"the template wants a team for {tk}", tk, dt.name, dt.owners[0]))
            present, names, app = {dt.owners[0]}, {GENERAL.casefold()}, False
        else:
            present, names, app = (
                set(ts.member_ids),
                {c.name.casefold() for c in ts.channels},
                ts.app_installed,
            )
        buildable.add(tk)
        if dt.adopt_id is None:
            owners = tuple(o for o in dt.owners if o not in present)
            if owners:
                creates.append(AddMembers("owners named by the record", tk, owners, owners=True))
            people = tuple(m for m in (*dt.members, *dt.guests) if m not in present and m not in dt.owners)
            if people:
                creates.append(AddMembers("members and guests the template names", tk, people))
        for wanted_ch in dt.channels:
            if wanted_ch.name.casefold() in names:
                continue
            if f"{tk}/{wanted_ch.name}" in gone:
                problems.append(f"{tk}: channel '{wanted_ch.name}' was deleted in Teams; not re-created")
                continue
            creates.append(
                CreateChannel(f"the template wants channel '{wanted_ch.name}'", tk, wanted_ch.name)
            )
        if not app and any(c.team_key == tk for c in want.connections):
            creates.append(InstallApp("the Dynamics 365 app must be in the team for its tab", tk))
        if dt.archived and (ts is None or not ts.archived):
            creates.append(ArchiveTeam("the opportunity is closed and the template archives its team", tk))

    wanted: set[tuple[RecordRef, str, str]] = set()  # (record, team id, channel id) kept as they are
    wanted_urls: set[tuple[RecordRef, str]] = set()
    keep_tabs: set[str] = set()
    keep_rows: set[str] = set()
    keep_locs: set[str] = set()
    for conn in sorted(want.connections, key=lambda c: (str(c.record), c.team_key, c.channel)):
        if conn.team_key not in buildable:
            continue
        if (conn.team_key, conn.channel.casefold()) in guest_channels:
            problems.append(f"{conn.record}: not connected to guest channel '{conn.channel}'")
            continue
        if f"{conn.team_key}/{conn.channel}" in gone:
            problems.append(
                f"{conn.record}: channel '{conn.channel}' of {conn.team_key} was deleted in Teams"
            )
            continue
        ts = actual.teams.get(conn.team_key)
        ch = ts.channel(conn.channel) if ts else None
        if ts is None or ch is None:
            creates += _connect(conn, private=False)
            continue
        _keep(conn, ts, ch, actual, creates, problems, wanted, wanted_urls, keep_tabs, keep_rows, keep_locs)

    deletes: list[Op] = []
    by_team = {ts.team_id: ts for ts in actual.teams.values()}
    for loc in actual.locations:
        if loc.id in keep_locs or any(
            r == loc.regarding and same_url(u, loc.absolute_url) for r, u in wanted_urls
        ):
            continue
        ours = any(
            r.regarding == loc.regarding and same_url(row_folder_url(r), loc.absolute_url)
            for r in actual.rows
        ) or any(
            c.folder_url and same_url(c.folder_url, loc.absolute_url)
            for ts in actual.teams.values()
            for c in ts.channels
        )
        if ours:
            deletes.append(
                DeleteLocation("the record is no longer connected to that channel", loc.id, loc.regarding)
            )
    for tab in actual.tabs:
        if tab.tab_id not in keep_tabs:
            deletes.append(
                DeleteTab(
                    "the record is no longer connected to that channel",
                    tab.team_id,
                    tab.channel_id,
                    tab.tab_id,
                    tab.record,
                )
            )
    for row in actual.rows:
        if row.id in keep_rows:
            continue
        ts = by_team.get(row.team_id)
        if ts is not None and ts.channel_by_id(row.channel_id) is None:
            problems.append(
                f"{row.regarding}: its channel '{row.channel_name}' was deleted in Teams; link removed"
            )
            deletes.append(DeleteRow("the channel was deleted in Teams", row.id, row.regarding))
        else:
            deletes.append(
                DeleteRow("the record is no longer connected to that channel", row.id, row.regarding)
            )
    return RecordsPlan(
        key=want.key,
        operations=(*deletes, *creates),
        problems=tuple(dict.fromkeys(problems)),
        deleted_channels=frozenset(gone),
    )


def _connect(conn: Connection, private: bool) -> list[Op]:
    why = f"connect {conn.record} to '{conn.channel}'"
    ops: list[Op] = [CreateRow(why, conn)]
    if not private:
        ops.append(CreateLocation(why, conn))
    ops.append(CreateTab(why, conn))
    return ops


def _keep(
    conn: Connection,
    ts: TeamState,
    ch: ChannelState,
    actual: ActualRecords,
    creates: list[Op],
    problems: list[str],
    wanted: set[tuple[RecordRef, str, str]],
    wanted_urls: set[tuple[RecordRef, str]],
    keep_tabs: set[str],
    keep_rows: set[str],
    keep_locs: set[str],
) -> None:
    why = f"connect {conn.record} to '{conn.channel}'"
    wanted.add((conn.record, ts.team_id, ch.id))
    rows = sorted(
        (r for r in actual.rows if r.regarding == conn.record and r.channel_id == ch.id), key=lambda r: r.id
    )
    if rows:
        keep_rows.add(rows[0].id)
    else:
        creates.append(CreateRow(why, conn))
    if ch.private:
        problems.append(
            f"{conn.record}: '{conn.channel}' is a private channel; Dynamics shows no documents for it"
        )
    elif ch.folder_url:
        wanted_urls.add((conn.record, ch.folder_url))
        locs = sorted(
            (
                loc
                for loc in actual.locations
                if loc.regarding == conn.record and same_url(loc.absolute_url, ch.folder_url)
            ),
            key=lambda loc: loc.id,
        )
        if locs:
            keep_locs.add(locs[0].id)
            wanted_urls.discard((conn.record, ch.folder_url))  # extras are deleted below
        else:
            creates.append(CreateLocation(why, conn))
    else:
        creates.append(CreateLocation(why, conn))
    tabs = sorted(
        (t for t in actual.tabs if t.channel_id == ch.id and t.record == conn.record), key=lambda t: t.tab_id
    )
    if tabs:
        keep_tabs.add(tabs[0].tab_id)
    else:
        creates.append(CreateTab(why, conn))
