"""The team mapping, the one record every feature shares: which team stands for which store,
region or the communications team, who the app put there, and the identities it resolved.

Partition `mappings/team` holds each team's record (row = its key, e.g. 'store:0042') and the
reverse lookups as index rows beside it, written in the same entity group transaction as the
record (Azure Tables allows one only within a partition), so a lookup by team id or by person is
one row read or one range read, never a scan of every record:
  ~team:<team id>            -> {"key": key}
  ~person:<personnel>:<key>  -> {"key": key}
'~' sorts after every record key, so `list_teams` reads the records only (rows < '~').
Partition `mappings/creating` holds the team creation intents (what lets a pass adopt the team
a crashed create left). Written by the team pass (shared/sync), read by every feature.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.state.backend import WRITE_LIMIT, Write
from shared.state.store import MAPPINGS, StateStore, _now

INDEX_PREFIX = "~"  # index rows of the team partition (after every record key)
INDEX_MARKER = "~~indexed"  # present once every record has its index rows


def _team_row(team_id: str) -> str:
    return f"{INDEX_PREFIX}team:{team_id}"


def _person_row(personnel_number: str, key: str) -> str:
    return f"{INDEX_PREFIX}person:{personnel_number}:{key}"


def _after(prefix: str) -> str:
    """The least string above every string that starts with `prefix` (a range's stop)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class CachedIdentity(BaseModel):
    user_id: str
    at: datetime
    teams_licensed: bool | None = None


class TeamRecord(BaseModel):
    key: str = Field(description="str(TeamKey), e.g. 'store:0042'")
    team_id: str
    adopted: bool = False
    managed_user_ids: list[str] = Field(default_factory=list)
    managed_personnel: list[str] = Field(default_factory=list, description="Personnel numbers of those users")
    identities: dict[str, CachedIdentity] = Field(
        default_factory=dict,
        description="UPN (lower case) -> Entra user id resolved for this team's people, with when",
    )
    desired_hash: str | None = Field(
        default=None,
        description="shared.sync.nightly.fingerprint of the desired team the last pass converged to "
        "(None: not converged); the nightly reconciliation reads the team only when it moved",
    )
    updated_at: datetime = Field(default_factory=_now)


# Partition `mappings/team` holds each team's record (row = its key, e.g. 'store:0042') and
# the reverse lookups as index rows beside it, written in the same entity group transaction
# as the record (Azure Tables allows one only within a partition), so a lookup by team id or
# by person is one row read or one range read, never a scan of every record:
#   ~team:<team id>            -> {"key": key}
#   ~person:<personnel>:<key>  -> {"key": key}
# '~' sorts after every record key, so `list_teams` reads the records only (rows < '~').
async def get_team(state: StateStore, key: str) -> TeamRecord | None:
    found = await state.backend.get(MAPPINGS, "team", key)
    return None if found is None else TeamRecord.model_validate(found.data)


async def put_team(state: StateStore, record: TeamRecord) -> None:
    """Save a mapping with its index rows (team id, each managed person) in one write.

    A record with more index changes than one transaction takes (100 rows) is written in
    several, index additions first and removals with the record last: an interruption leaves
    the index a superset of the truth (at worst one more team synced), never missing a row."""
    before = await get_team(state, record.key)
    old = set(before.managed_personnel) if before else set()
    new = set(record.managed_personnel)
    writes = [Write(_person_row(p, record.key), {"key": record.key}) for p in sorted(new - old)]
    if before is None or before.team_id != record.team_id:
        writes.append(Write(_team_row(record.team_id), {"key": record.key}))
        if before is not None and await team_key_of(state, before.team_id) == record.key:
            writes.append(Write(_team_row(before.team_id), None))
    writes += [Write(_person_row(p, record.key), None) for p in sorted(old - new)]
    writes.append(Write(record.key, record.model_dump(mode="json")))
    head = len(writes) % WRITE_LIMIT or WRITE_LIMIT
    batches = [writes[i : i + WRITE_LIMIT] for i in range(0, len(writes) - head, WRITE_LIMIT)]
    for batch in [*batches, writes[len(writes) - head :]]:
        await state.backend.write(MAPPINGS, "team", batch)


async def list_teams(state: StateStore) -> list[TeamRecord]:
    rows = state.backend.query(MAPPINGS, "team", stop=INDEX_PREFIX)
    return [TeamRecord.model_validate(e.data) async for e in rows]


async def team_rows(state: StateStore) -> AsyncIterator[dict[str, Any]]:
    """Every team record as its stored JSON object, unvalidated: for a bulk pass
    that needs a few fields of each (the nightly choice), without building 10,000
    `TeamRecord`s and their ~200,000 cached identities at once (200 MB at 10,000 stores)."""
    async for e in state.backend.query(MAPPINGS, "team", stop=INDEX_PREFIX):
        yield e.data


async def team_key_of(state: StateStore, team_id: str) -> str | None:
    """Reverse lookup: which key a team stands for (webhooks name teams by id). One row read."""
    found = await state.backend.get(MAPPINGS, "team", _team_row(team_id))
    return None if found is None else str(found.data["key"])


async def team_keys_of(state: StateStore, team_ids: Iterable[str]) -> dict[str, str]:
    """`team_key_of` of several team ids in one call (`Backend.get_many`); an id that names no
    team of the app is absent."""
    rows = {_team_row(team_id): team_id for team_id in team_ids}
    found = await state.backend.get_many(MAPPINGS, "team", list(rows))
    return {rows[row]: str(e.data["key"]) for row, e in found.items()}


async def teams_of_person(state: StateStore, personnel_number: str) -> list[str]:
    """Keys of the teams the app placed this worker in (to reach old teams after a transfer)."""
    prefix = _person_row(personnel_number, "")
    rows = state.backend.query(MAPPINGS, "team", start=prefix, stop=_after(prefix))
    return [str(e.data["key"]) async for e in rows]


async def note_team_creation(state: StateStore, key: str, display_name: str) -> None:
    """Recorded BEFORE the create request: this app is about to create `display_name` for
    `key`. Only a team named so after such an intent is adopted by name (team_pass)."""
    data = {"display_name": display_name, "at": _now().isoformat()}
    await state.backend.upsert(MAPPINGS, "creating", key, data)


async def team_creation(state: StateStore, key: str) -> str | None:
    """The display name this app last set out to create for `key`, or None."""
    found = await state.backend.get(MAPPINGS, "creating", key)
    return None if found is None else str(found.data.get("display_name"))


async def clear_team_creation(state: StateStore, key: str) -> None:
    await state.backend.delete(MAPPINGS, "creating", key)


async def ensure_indexes(state: StateStore) -> int:
    """Write the index rows of records saved before the indexes existed (state from an older
    version, whose person index lived in a table of its own). One row read when done;
    otherwise one pass over the records, then a marker. Returns how many records it indexed."""
    if await state.backend.get(MAPPINGS, "team", INDEX_MARKER) is not None:
        return 0
    records = await list_teams(state)
    for r in records:
        rows = [Write(_team_row(r.team_id), {"key": r.key})]
        rows += [Write(_person_row(p, r.key), {"key": r.key}) for p in sorted(set(r.managed_personnel))]
        for i in range(0, len(rows), WRITE_LIMIT):
            await state.backend.write(MAPPINGS, "team", rows[i : i + WRITE_LIMIT])
    await state.backend.upsert(MAPPINGS, "team", INDEX_MARKER, {"version": 1, "at": _now().isoformat()})
    return len(records)
