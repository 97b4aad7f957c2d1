"""Why a team is as it is (`cts explain store:0042 [PERSON]`, `GET ops/explain/{key}`).

Reads exactly what a pass reads and plans (`read_and_plan`, no writes): the desired owners and
members with the Commerce rows that put each there, the actual team, the plan with each
operation's reason, the safety rails that hold operations back, unresolved identities; and the
last recorded pass. For a person (personnel number): every team they are desired in or would be
removed from, and why.
"""

from __future__ import annotations

from typing import Any

from shared.domain.commerce import CommerceOrg
from shared.domain.plan import Operation
from shared.domain.teams import TeamKey
from shared.settings import Settings
from shared.state import StateStore
from shared.state import teams as team_records
from shared.sync import records as sync_records
from shared.sync.team_pass import REMOVALS, CommerceReader, PassReading, TeamsGateway, read_and_plan


def _op(op: Operation) -> dict[str, Any]:
    data = op.model_dump(mode="json")
    return {"op": op.op, "reason": op.reason, **{k: v for k, v in data.items() if k not in ("op", "reason")}}


def _rows(org: CommerceOrg, personnel_number: str | None) -> list[dict[str, Any]]:
    if personnel_number is None:
        return []
    return [a.model_dump(mode="json") for a in org.assignments if a.personnel_number == personnel_number]


def _people(reading: PassReading) -> dict[str, str]:
    """user id -> personnel number (from the identities the pass resolved)."""
    return {ident.user_id: person for person, ident in reading.identities.items()}


def _seat(reading: PassReading, user_id: str, role: str, person_of: dict[str, str]) -> dict[str, Any]:
    person = person_of.get(user_id)
    why = reading.target.why.get(user_id) if reading.target is not None else None
    return {
        "user_id": user_id,
        "personnel_number": person,
        "role": role,
        "why": why,
        "commerce_rows": _rows(reading.org, person),
    }


def describe(key: TeamKey, reading: PassReading, last: Any) -> dict[str, Any]:
    person_of = _people(reading)
    target, actual, p = reading.target, reading.actual.team, reading.plan
    desired_seats = (
        [_seat(reading, u, "owner", person_of) for u in sorted(target.owners)]
        + [_seat(reading, u, "member", person_of) for u in sorted(target.members)]
        if target is not None
        else []
    )
    problems = [pr.model_dump(mode="json") for pr in (*p.problems, *reading.found)]
    return {
        "key": str(key),
        "desired": None
        if target is None
        else {
            "display_name": target.display_name,
            "archived": target.archived,
            "team_id": target.team_id,
            "people": desired_seats,
        },
        "actual": None
        if actual is None
        else {
            "team_id": actual.team_id,
            "display_name": actual.display_name,
            "archived": actual.archived,
            "owners": sorted(m.user_id for m in actual.members if m.role.value == "owner"),
            "members": sorted(m.user_id for m in actual.members if m.role.value != "owner"),
        },
        "leavers": {
            u: {"why": why, "personnel_number": person_of.get(u)} for u, why in reading.want.leavers.items()
        },
        "plan": [_op(op) for op in p.operations],
        "held": [_op(op) for op in p.held],
        "problems": problems,
        "unresolved": [pr for pr in problems if pr.get("kind") == "unresolved identity"],
        "last_pass": None if last is None else last.model_dump(mode="json"),
    }


async def explain_team(
    key: TeamKey, *, commerce: CommerceReader, gateway: TeamsGateway, state: StateStore, settings: Settings
) -> dict[str, Any]:
    reading = await read_and_plan(key, commerce=commerce, gateway=gateway, state=state, settings=settings)
    return describe(key, reading, await sync_records.get_sync(state, str(key)))


async def explain_person(
    personnel_number: str,
    *,
    commerce: CommerceReader,
    gateway: TeamsGateway,
    state: StateStore,
    settings: Settings,
    also: tuple[TeamKey, ...] = (),
) -> dict[str, Any]:
    """Every team the person is desired in, is in, or would leave (plus the teams in `also`),
    with the reasons; and the removals recorded for them (by personnel number or user id)."""
    keys = {str(TeamKey.store(s)) for s in await commerce.stores_of_worker(personnel_number)}
    keys |= set(await team_records.teams_of_person(state, personnel_number))
    keys |= {str(k) for k in also}
    teams: list[dict[str, Any]] = []
    removals = await state.audit_trail(REMOVALS + personnel_number)
    user_ids: set[str] = set()
    for label in sorted(keys):
        key = TeamKey.parse(label)
        reading = await read_and_plan(key, commerce=commerce, gateway=gateway, state=state, settings=settings)
        team = describe(key, reading, await sync_records.get_sync(state, label))
        seats = [
            s for s in (team["desired"] or {}).get("people", []) if s["personnel_number"] == personnel_number
        ]
        leaving = {u: v for u, v in team["leavers"].items() if v["personnel_number"] == personnel_number}
        ident = reading.identities.get(personnel_number)
        uid = ident.user_id if ident else None
        if uid and uid not in user_ids:
            user_ids.add(uid)
            removals += await state.audit_trail(REMOVALS + uid)
        teams.append(
            {
                "key": label,
                "desired_as": [s["role"] for s in seats],
                "why": [s["why"] for s in seats],
                "commerce_rows": _rows(reading.org, personnel_number),
                "in_team_now": bool(
                    uid and team["actual"] and uid in team["actual"]["owners"] + team["actual"]["members"]
                ),
                "removed_because": [v["why"] for v in leaving.values()],
                "plan": [
                    op
                    for op in team["plan"]
                    if uid and (op.get("user_id") == uid or uid in op.get("user_ids", []))
                ],
                "held": [
                    op
                    for op in team["held"]
                    if uid and (op.get("user_id") == uid or uid in op.get("user_ids", []))
                ],
                "problems": [pr for pr in team["problems"] if pr.get("personnel_number") == personnel_number],
            }
        )
    return {
        "personnel_number": personnel_number,
        "teams": teams,
        "removed_from": [{"key": r["key"], "why": r["reason"]} for r in removals],
    }
