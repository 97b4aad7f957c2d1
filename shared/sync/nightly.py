"""Which teams a nightly reconciliation must read in full: the ones that changed (pure).

A converged org costs one `/groups/delta` round (members and owners; one request per 100
changed groups) and one bulk read of Commerce, not a read of every team:

- **Commerce side.** Every pass records a fingerprint of the desired team it converged to
  (`TeamRecord.desired_hash`). The nightly run computes the desired state of every team from one
  bulk read of the org and the identities the team records cache; a team whose fingerprint moved
  (a worker hired, transferred, a manager changed, a store renamed or closed, an assignment date
  passed...) is read in full — so is a team with no record or no fingerprint yet.
- **Teams side.** `/groups/delta?$select=displayName,mailNickname,members,owners` since the last
  round. A change that agrees with the desired team (a member added who is wanted there, an owner
  removed who is not wanted as owner: mostly the app's own writes, echoed) needs nothing; any
  other change (someone added or removed by hand, a team renamed or deleted) makes that team read.

What the delta cannot show: channel edits and team settings (not group properties). Those come
through change notifications (docs/drift.md), and a full reconciliation (`?full=true`, the first
run, or after an expired delta token) reads every team.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.domain.plan import DesiredTeam
from shared.domain.subscriptions import GroupDelta

ABSENT = "absent"  # the fingerprint of "nothing desired for this key"


def fingerprint(team: DesiredTeam | None) -> str:
    """A stable hash of what a team should be (not why, nor which team id a mapping names)."""
    if team is None:
        return ABSENT
    data = team.model_dump(mode="json", exclude={"team_id", "why", "key"})
    data["owners"], data["members"] = sorted(team.owners), sorted(team.members)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Recorded:
    """What the state store remembers of one team (`TeamRecord`, reduced to what matters here)."""

    team_id: str
    desired_hash: str | None


@dataclass(frozen=True)
class Choice:
    read: dict[str, str]  # key -> why its team is read in full
    unchanged: int


def choose(
    keys: Iterable[str],
    desired: Mapping[str, DesiredTeam],
    records: Mapping[str, Recorded],
    delta: GroupDelta,
) -> Choice:
    """The keys to read in full, each with the first reason found, and how many are skipped."""
    keys = sorted(set(keys))
    read: dict[str, str] = {}
    for key in keys:
        record, want = records.get(key), desired.get(key)
        if record is None:
            if want is not None:
                read[key] = "no team recorded yet"
        elif record.desired_hash is None:
            read[key] = "no fingerprint of its last pass"
        elif record.desired_hash != fingerprint(want):
            read[key] = "changed in Commerce"
    by_team = {r.team_id: k for k, r in records.items()}
    for group_id in delta.removed_group_ids:
        if (gone := by_team.get(group_id)) is not None:
            read.setdefault(gone, "team deleted in Teams")
    for group_id, name in delta.display_names.items():
        renamed = by_team.get(group_id)
        named = desired.get(renamed) if renamed is not None else None
        if renamed is not None and named is not None and name != named.display_name:
            read.setdefault(renamed, "team renamed in Teams")
    for change in delta.member_changes:
        team = by_team.get(change.group_id)
        if team is None or team in read:
            continue
        want = desired.get(team)
        wanted = (
            set() if want is None else (set(want.owners) if change.owner else {*want.owners, *want.members})
        )
        if change.removed == (change.user_id in wanted):
            role = "owner" if change.owner else "member"
            read[team] = f"{role} {'removed' if change.removed else 'added'} in Teams"
    return Choice(read=read, unchanged=sum(1 for k in keys if k not in read))
