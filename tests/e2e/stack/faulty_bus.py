"""Fault injection for the quarantine on the local stack: the app's `CTS_BUS__LOCAL_BROKER_FACTORY`
(the seam the app opens its bus through, shared/ops/connection.py) pointed at `open_broker`, which
opens the real embedded broker and fails the next N quarantine sends or dead-letterings, N read
from a file beside the broker (`fail-quarantine-send`, `fail-quarantine-dead-letter`), decremented
on each failure. Without the files it is the plain broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.host.broker import Broker
from shared.bus.quarantine import QUARANTINE_QUEUE

SEND_FAULTS = "fail-quarantine-send"
DEAD_LETTER_FAULTS = "fail-quarantine-dead-letter"


def _take(path: Path) -> bool:
    """Use up one injected failure; True if there was one."""
    try:
        left = int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return False
    if left <= 0:
        return False
    path.write_text(str(left - 1))
    return True


class FaultyBroker(Broker):
    async def send(self, entity: str, messages: Any) -> None:
        if entity == QUARANTINE_QUEUE and _take(Path(self.path).parent / SEND_FAULTS):
            raise ConnectionError("injected fault: the quarantine send did not reach the bus")
        await super().send(entity, messages)

    async def dead_letter(
        self, message: Any, *, reason: str | None = None, description: str | None = None
    ) -> None:
        if message.entity.name == QUARANTINE_QUEUE and _take(Path(self.path).parent / DEAD_LETTER_FAULTS):
            raise ConnectionError("injected fault: the instance died before dead-lettering")
        await super().dead_letter(message, reason=reason, description=description)


def open_broker(path: str) -> Broker:
    return FaultyBroker(path, poll_interval=0.2)
