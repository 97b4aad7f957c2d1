"""Housekeeping of the state store: deleting rows that only matter for a while.

- Echo notes (`ECHOES`, "own"): a sync pass notes every change it makes so that the change
  notification it causes is not taken for drift (docs/drift.md "Echoes"). A first provisioning
  of 10,000 stores notes ~400,000; past their expiry (and `echo_retention` more, for notifications
  still queued) nothing reads them.
- Event dedupe records (`EVENTS`, "seen"): one per handled Commerce event, for redeliveries;
  after `event_retention` a redelivery costs one redundant pass (docs/events.md "Duplicates and
  order"), never a lost change.

Run by the `state_housekeeping` timer (functions/ops.py, CTS_STATE__HOUSEKEEPING_SCHEDULE). Each
run reads the two partitions once and deletes in batched writes; what it finds expired it
deletes, so a run cut off half way is finished by the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.state.store import StateStore


@dataclass(frozen=True)
class Housekept:
    echoes: int  # echo notes deleted
    events: int  # event dedupe records deleted


async def housekeep(
    state: StateStore,
    *,
    echo_retention: timedelta,
    event_retention: timedelta,
    now: datetime | None = None,
) -> Housekept:
    """Delete echo notes expired more than `echo_retention` ago and dedupe records of events
    handled more than `event_retention` ago."""
    if echo_retention < timedelta(0) or event_retention < timedelta(0):
        raise ValueError("a retention cannot be negative")
    at = now or datetime.now(UTC)
    echoes = await state.forget_own_changes_before(at - echo_retention)
    events = await state.forget_events_before(at - event_retention)
    return Housekept(echoes=echoes, events=events)
