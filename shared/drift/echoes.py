"""Recognising the app's own changes when Graph notifies them back (echoes).

A sync pass notes what it is about to change, as keys in the state store with a short TTL
(`StateStore.note_own_change`); a notification that matches a noted key within the TTL is an echo
and does not trigger a sync. Keys name the team, the item and the change type, so a person's
manual undo of the app's change (a different change type) is still seen as drift:

| the pass does                  | noted key(s)                                   | notification it matches |
|--------------------------------|------------------------------------------------|-------------------------|
| AddMembers (user U, team T)    | `team:T/user:U/created`, `team:T/user:U/updated` | member created/updated |
| RemoveMember (U, T)            | `team:T/user:U/deleted`                        | member deleted          |
| SetRole (U, T)                 | `team:T/user:U/updated`                        | member updated          |
| CreateChannel (T)              | `team:T/channels/created` (id unknown before)  | any channel created in T|
| UpdateTeam / (Un)ArchiveTeam   | `team:T/updated`                               | team updated            |
| CreateTeam (first owner U, T)  | AddMembers' keys for U, `team:T/updated`,      | the creation's own      |
|                                | `team:T/channels/created`                      | (owner, group, General) |

A member notification names a membership id, not a user; the user is read out of the id
(`user_id_of_membership`, an observed but undocumented layout). When that fails, only
`team:T/member:M/<type>` is checked, which a pass can note when it knows the membership id.
Missing an echo costs one extra sync pass that finds nothing to do (and so writes nothing):
never a loop. Pure except `note_plan_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from shared.domain.plan import (
    AddMembers,
    ArchiveTeam,
    CreateChannel,
    CreateTeam,
    Plan,
    RemoveMember,
    SetRole,
    UnarchiveTeam,
    UpdateTeam,
)
from shared.drift.notifications import ResourceKind, ResourceRef, user_id_of_membership
from shared.state import StateStore

ECHO_TTL = timedelta(minutes=10)


def member_keys(
    team_id: str, change_type: str, *, user_id: str | None = None, membership_id: str | None = None
) -> list[str]:
    keys = []
    if user_id:
        keys.append(f"team:{team_id}/user:{user_id}/{change_type}")
    if membership_id:
        keys.append(f"team:{team_id}/member:{membership_id}/{change_type}")
    return keys


def echo_candidates(ref: ResourceRef, change_type: str) -> list[str]:
    """The keys any of which, noted as an own change, makes this notification an echo."""
    if ref.kind is ResourceKind.MEMBER:
        return member_keys(
            ref.team_id, change_type, user_id=user_id_of_membership(ref.item_id), membership_id=ref.item_id
        )
    if ref.kind is ResourceKind.CHANNEL:
        return [
            f"team:{ref.team_id}/channel:{ref.item_id}/{change_type}",
            f"team:{ref.team_id}/channels/{change_type}",
        ]
    return [f"team:{ref.team_id}/{change_type}"]


def own_change_keys(plan: Plan, team_ids: Mapping[str, str] | None = None) -> list[str]:
    """Keys for every change `plan` makes. `team_ids` (str(TeamKey) -> team id) resolves the
    operations on a team the plan creates; without it those are skipped (before creation the
    team is not mapped, so its notifications are ignored anyway)."""
    ids = dict(team_ids or {})
    keys: list[str] = []
    for op in plan.operations:
        team = getattr(op, "team_id", None) or ids.get(str(op.key))
        if not team:
            continue
        if isinstance(op, CreateTeam):
            # The creation call adds its first owner (and Graph makes the group and General):
            # those notifications arrive as late as any other, after the team is mapped.
            keys += member_keys(team, "created", user_id=op.first_owner)
            keys += member_keys(team, "updated", user_id=op.first_owner)
            keys += [f"team:{team}/updated", f"team:{team}/channels/created"]
        elif isinstance(op, AddMembers):
            for user in op.user_ids:
                keys += member_keys(team, "created", user_id=user) + member_keys(
                    team, "updated", user_id=user
                )
        elif isinstance(op, RemoveMember):
            keys += member_keys(team, "deleted", user_id=op.user_id)
        elif isinstance(op, SetRole):
            keys += member_keys(team, "updated", user_id=op.user_id)
        elif isinstance(op, CreateChannel):
            keys.append(f"team:{team}/channels/created")
        elif isinstance(op, UpdateTeam | ArchiveTeam | UnarchiveTeam):
            keys.append(f"team:{team}/updated")
    return list(dict.fromkeys(keys))


async def note_plan_changes(
    state: StateStore, plan: Plan, team_ids: Mapping[str, str] | None = None, ttl: timedelta = ECHO_TTL
) -> int:
    """Note a plan's changes as the app's own. Call it BEFORE executing the plan (Graph may
    notify before the executor returns), and again after with `ExecutionResult.team_ids` to cover
    teams the plan created. Returns how many keys were written."""
    return await state.note_own_changes(own_change_keys(plan, team_ids), ttl)


def echo_in(candidates: Iterable[str], notes: Mapping[str, datetime], at: datetime) -> str | None:
    """The first of `candidates` noted as an own change (`notes`: key -> when its note expires)
    and not expired at `at`, else None: the notification is then drift.

    `at` is when the webhook received the notification (Graph's delivery delay), not when the
    queue got round to it: at 10,000 stores the queue may lag behind by more than the TTL, and
    every echo then counted as drift, one no-op sync pass per late notification. A match is
    sound however late: a key noted after the notification arrived means a later pass made that
    same change to that same item. The drift processor reads the notes
    (shared/drift/processing.py `_Batch.echo`)."""
    return next((key for key in candidates if (until := notes.get(key)) is not None and until > at), None)
