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

import asyncio
from collections.abc import Callable, Collection, Coroutine, Iterable
from typing import Any
from urllib.parse import quote

from shared.domain.ids import is_graph_guid, odata_string
from shared.domain.teams import Identity
from shared.graph.batch import MAX_BATCH, BatchRequest, run_batch
from shared.graph.client import GraphClient

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


IN_LIMIT = 15


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


class CoalescedLookups:
    """`resolve_upns` calls made at about the same time share their Graph requests.

    The passes of a reconciliation batch (25 teams at once) each look up their ~20 people: alone,
    one `$batch` call of 2 requests (15 + 5) per team; coalesced, one call of 20 requests of 15
    (`CALL_SIZE` people) for the lot. A call waits at most `window` seconds for company, and goes
    as soon as the next caller would take it past `CALL_SIZE` people (a caller's people are never
    split between calls; one caller with more goes alone, in as many calls as it needs). Every
    caller gets the identities it asked for; a failed look-up fails every caller that shared it
    (each pass then fails and retries as it would have). Bound to one event loop (the Gateway
    keeps one per loop). The shared requests run in the context (trace) of the caller that filled
    the call or started its wait."""

    CALL_SIZE = IN_LIMIT * MAX_BATCH

    def __init__(
        self,
        resolve: Callable[[list[str]], Coroutine[Any, Any, dict[str, Identity]]],
        window: float = 0.005,
        size: int = CALL_SIZE,
    ) -> None:
        self._resolve = resolve
        self._window = window
        self._size = size
        self._names: dict[str, None] = {}  # an ordered set
        self._waiters: list[tuple[list[str], asyncio.Future[dict[str, Identity]]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[dict[str, Identity]]] = set()
        self.calls = 0  # look-ups sent (for tests and the bench)

    async def resolve(self, upns: Iterable[str]) -> dict[str, Identity]:
        wanted = list(dict.fromkeys(u for u in upns if u))
        if not wanted:
            return {}
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Identity]] = loop.create_future()
        if self._names and len(self._names) + sum(w not in self._names for w in wanted) > self._size:
            self._flush()  # what waits fills a call: it goes, and this caller starts the next
        self._waiters.append((wanted, future))
        self._names.update(dict.fromkeys(wanted))
        if len(self._names) >= self._size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiters, names = self._waiters, list(self._names)
        self._waiters, self._names = [], {}
        if not waiters:
            return
        self.calls += 1
        task = asyncio.get_running_loop().create_task(self._resolve(names))
        self._running.add(task)

        def hand_out(done: asyncio.Task[dict[str, Identity]]) -> None:
            self._running.discard(done)
            failure = None if done.cancelled() else done.exception()
            for wanted, future in waiters:
                if future.done():  # its caller was cancelled
                    continue
                if done.cancelled():
                    future.cancel()
                elif failure is not None:
                    future.set_exception(failure)
                else:
                    found = done.result()
                    future.set_result({w: found[w] for w in wanted if w in found})

        task.add_done_callback(hand_out)


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
