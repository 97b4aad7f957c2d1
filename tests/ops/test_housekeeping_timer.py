"""The housekeeping timer on the local host: expired echo notes and old event dedupe records go,
live ones stay (shared/state/housekeeping.py; docs/ops.md "Housekeeping")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import OpsStack, wait_for

from shared.state.store import EVENTS

EVERY_SECOND = {"CTS_STATE__HOUSEKEEPING_SCHEDULE": "*/1 * * * * *"}
OLD, LIVE = "team:t-1/user:gone/deleted", "team:t-1/user:here/created"


@pytest.mark.parametrize("ops_stack", [EVERY_SECOND], indirect=True)
def test_the_timer_deletes_what_no_longer_matters_and_keeps_the_rest(ops_stack: OpsStack) -> None:
    async def seed(s: Any) -> None:
        await s.note_own_changes([OLD], ttl=timedelta(days=-2))  # expired 2 days ago (retention 1)
        await s.note_own_changes([LIVE], ttl=timedelta(minutes=30))
        await s.mark_event("be:today")
        handled = (datetime.now(UTC) - timedelta(days=20)).isoformat()  # retention 14 days
        await s.backend.upsert(EVENTS, "seen", "be:long-ago", {"at": handled})

    ops_stack.state(seed)
    three_days_ago = datetime.now(UTC) - timedelta(days=3)

    async def old_gone(s: Any) -> bool:
        return not await s.is_own_change(OLD, at=three_days_ago) and not await s.event_seen("be:long-ago")

    wait_for(lambda: ops_stack.state(old_gone), 20, "the housekeeping timer to delete the old rows")

    async def kept(s: Any) -> tuple[bool, bool]:
        return await s.is_own_change(LIVE), await s.event_seen("be:today")

    assert ops_stack.state(kept) == (True, True)
