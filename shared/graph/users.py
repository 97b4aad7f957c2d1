"""Resolve workers to Entra users by UPN, object id or employeeId.

UPNs and object ids: `GET /users?$filter=userPrincipalName in (...)` (or `id in (...)`), 15 values
per request, 20 requests per `$batch` call: 300 people per HTTP call and one Graph request per 15
(`GET /users/{upn}` was one Graph request per person: 20,000 for a 1,000-store org). 15 is Graph's
limit for `in` ("limited to 15 expressions in the filter clause by default", Graph known issues,
https://developer.microsoft.com/graph/known-issues/?search=13635); `userPrincipalName` and `id`
support `in` without advanced query parameters (resources/user, property table). Strings compare
case-insensitively in the directory, so results are matched back by lower-cased UPN or id.

Permission: User.Read.All (application). https://learn.microsoft.com/graph/api/user-list

The same look-up reads `assignedPlans` (returned only on `$select`, resources/user), so whether a
Teams service plan is enabled costs no extra request. `/users/{id}/licenseDetails` would say the
same but supports no application permission (user-list-licensedetails, permissions table).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import quote

from shared.domain.ids import is_graph_guid, odata_string
from shared.domain.teams import Identity
from shared.graph.batch import BatchRequest, run_batch
from shared.graph.client import GraphClient
from shared.graph.coalesce import IN_LIMIT

_SELECT = "id,userPrincipalName,displayName,employeeId,assignedPlans"
TEAMS1 = "57ff2da0-773e-42df-b2af-ffb7a2317929"  # Microsoft Teams service plan (TEAMS1)


def odata_quote(value: str) -> str:
    """A string literal for a Graph `$filter`: the one OData literal rule (`'` doubled), then
    URL-encoded so nothing in the value can end the query parameter. Every `$filter` the Graph
    gateway builds goes through here."""
    return quote(odata_string(value), safe="")


def identity_from(user: dict[str, Any], teams_plans: Collection[str] = (TEAMS1,)) -> Identity:
    plans = user.get("assignedPlans")
    licensed = (
        None
        if plans is None
        else any(
            str(p.get("servicePlanId", "")).lower() in {t.lower() for t in teams_plans}
            and p.get("capabilityStatus") == "Enabled"
            for p in plans
        )
    )
    return Identity(
        user_id=str(user["id"]),
        upn=user.get("userPrincipalName"),
        display_name=user.get("displayName"),
        teams_licensed=licensed,
    )


async def resolve_upns(
    client: GraphClient, upns: Iterable[str], teams_plans: Collection[str] = (TEAMS1,)
) -> dict[str, Identity]:
    """UPN (or object id) -> Identity for the users that exist (matched case-insensitively), with
    whether a Teams plan is enabled; others are absent."""
    wanted = list(dict.fromkeys(u for u in upns if u))
    ids = [w for w in wanted if is_graph_guid(w)]
    names = [w for w in wanted if not is_graph_guid(w)]
    chunks = [("id", ids[i : i + IN_LIMIT]) for i in range(0, len(ids), IN_LIMIT)]
    chunks += [("userPrincipalName", names[i : i + IN_LIMIT]) for i in range(0, len(names), IN_LIMIT)]
    requests = [
        BatchRequest(id=str(i), method="GET", url=_in_filter(field, values))
        for i, (field, values) in enumerate(chunks)
    ]
    responses = await run_batch(client, requests)
    by_key: dict[str, dict[str, Any]] = {}
    for i, (field, _) in enumerate(chunks):
        for user in (responses[str(i)].json() or {}).get("value", []):
            key = user.get(field)
            if isinstance(key, str):
                by_key[key.lower()] = user
    return {w: identity_from(by_key[w.lower()], teams_plans) for w in wanted if w.lower() in by_key}


def _in_filter(field: str, values: list[str]) -> str:
    listed = ",".join(odata_quote(v) for v in values)
    return f"/users?$filter={field}%20in%20({listed})&$select={_SELECT}&$top={IN_LIMIT}"


async def resolve_employee_ids(client: GraphClient, employee_ids: Iterable[str]) -> dict[str, Identity]:
    """employeeId -> Identity; an id matching no user, or several, is absent (ambiguous)."""
    wanted = list(dict.fromkeys(e for e in employee_ids if e))
    requests = [
        BatchRequest(
            id=str(i),
            method="GET",
            url=f"/users?$filter=employeeId%20eq%20{odata_quote(eid)}&$select={_SELECT}",
        )
        for i, eid in enumerate(wanted)
    ]
    responses = await run_batch(client, requests)
    found: dict[str, Identity] = {}
    for i, eid in enumerate(wanted):
        users = (responses[str(i)].json() or {}).get("value", [])
        if len(users) == 1:
            found[eid] = identity_from(users[0])
    return found
