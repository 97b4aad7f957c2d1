"""Shared helpers for the broker and bus tests: a hand-driven clock and a broker on a temp file."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from local.host.broker import Broker
from shared.bus.protocol import EntityRef, OutgoingMessage

TOPIC = "commerce-events"
SYNC = EntityRef(TOPIC, "teams-sync")
AUDIT = EntityRef(TOPIC, "audit")


class Clock:
    """Wall-clock start, moved only by `advance` (lock expiry, TTL and windows without sleeping)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def open_broker(path: Path, clock: Clock | None = None, **kwargs: object) -> Broker:
    return Broker(path / "bus.sqlite", clock=clock or time.time, **kwargs)  # type: ignore[arg-type]


async def declare(broker: Broker, **kwargs: object) -> None:
    """The commerce topic with two subscriptions (both with the replay-targeting rule)."""
    options: dict[str, object] = {"max_delivery_count": 3, "lock_duration": timedelta(seconds=30)}
    options.update(kwargs)
    await broker.ensure_topic(TOPIC, ["teams-sync", "audit"], **options)  # type: ignore[arg-type]


def msg(body: str = '{"BusinessEventId":"RetailStoreChanged"}', **kwargs: object) -> OutgoingMessage:
    return OutgoingMessage(body=body.encode(), **kwargs)  # type: ignore[arg-type]
