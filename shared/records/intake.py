"""What a Dataverse record event causes: the records pass of each account it concerns.

An account event names the account; an opportunity event is resolved to its account by reading
Dataverse now (the event's own columns are never applied), plus every account whose pass owns a
collaboration row about that opportunity (found through the channel index the pass keeps), so a
deleted or moved opportunity's old connections go at once, not only at the nightly pass."""

from __future__ import annotations

from typing import Protocol

from shared.domain.events import CommerceHint, HintScope
from shared.domain.records import Collaboration
from shared.records.desired import pass_key
from shared.records.requests import request_records
from shared.spine import OrchestrationClient
from shared.spine.features import RECORDS_CHANNEL_INDEX
from shared.state import StateStore

CHANNEL_INDEX = RECORDS_CHANNEL_INDEX  # channel id -> {"key": pass key}


class RecordScopeReader(Protocol):
    async def account_of_opportunity(self, opportunity_id: str) -> str | None: ...

    async def collaborations(self, regarding: list[str]) -> list[Collaboration]: ...


async def request_record_passes(
    hint: CommerceHint, *, records: RecordScopeReader | None, client: OrchestrationClient, state: StateStore
) -> list[str]:
    if records is None:
        return []  # record-connected channels are not enabled (CTS_RECORDS__ENABLED)
    keys: set[str] = set()
    if hint.scope is HintScope.ACCOUNT:
        keys.add(pass_key(hint.ids["account"]))
    else:
        opp = hint.ids["opportunity"].lower()
        found = await records.account_of_opportunity(opp)
        if found:
            keys.add(pass_key(found))
        for row in await records.collaborations([opp]):
            owner = await state.get_value(CHANNEL_INDEX, row.channel_id)
            if owner and owner.get("key"):
                keys.add(str(owner["key"]))
    ordered = sorted(keys)
    await request_records(ordered, client, state, reason=f"{hint.event_type} {hint.event_id}")
    return ordered
