"""Housekeeping deletes what no longer matters and nothing that still does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.state import StateStore
from shared.state.housekeeping import housekeep

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


async def test_expired_notes_and_old_events_go_and_the_rest_stays(state: StateStore) -> None:
    await state.note_own_changes(["team:t/user:long-gone/created"], ttl=-2 * DAY)
    await state.note_own_changes(["team:t/user:recently-expired/created"], ttl=-HOUR)
    await state.note_own_changes(["team:t/user:live/created"], ttl=timedelta(minutes=10))
    await state.mark_event("be:today")
    done = await housekeep(state, echo_retention=DAY, event_retention=14 * DAY)
    assert (done.echoes, done.events) == (1, 0)
    # Expired an hour ago: kept for a notification still queued from before its expiry.
    assert await state.is_own_change("team:t/user:recently-expired/created", at=datetime.now(UTC) - 2 * HOUR)
    assert await state.is_own_change("team:t/user:live/created")
    assert await state.event_seen("be:today")
    # Fifteen days later the event's dedupe record goes too; nothing is left to delete after.
    later = datetime.now(UTC) + 15 * DAY
    assert (await housekeep(state, echo_retention=DAY, event_retention=14 * DAY, now=later)).events == 1
    again = await housekeep(state, echo_retention=DAY, event_retention=14 * DAY, now=later)
    assert (again.echoes, again.events) == (0, 0)


async def test_a_note_is_purged_only_after_it_can_no_longer_match_a_queued_notification(
    state: StateStore,
) -> None:
    """Expired 3 days ago: a notification received 4 days ago (before the expiry) still matched it;
    with a 1-day retention it goes, and that notification would count as drift (one no-op pass)."""
    key = "team:team-1/user:u-1/deleted"
    await state.note_own_changes([key], ttl=-3 * DAY)
    received = datetime.now(UTC) - 4 * DAY
    assert await state.any_own_change([key], at=received) == key
    assert (await housekeep(state, echo_retention=4 * DAY, event_retention=DAY)).echoes == 0
    assert (await housekeep(state, echo_retention=DAY, event_retention=DAY)).echoes == 1
    assert await state.any_own_change([key], at=received) is None


async def test_a_negative_retention_is_refused(state: StateStore) -> None:
    with pytest.raises(ValueError, match="negative"):
        await housekeep(state, echo_retention=-HOUR, event_retention=DAY)
