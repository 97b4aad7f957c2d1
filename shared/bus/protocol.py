"""The `bus` protocol: Service Bus operations that are not triggers.

Implemented by the local embedded broker (`local/host/broker`) and by `azure-servicebus` for
production. Senders (the Commerce sandbox, the webhook, replay), the DLQ tooling and tests use
only this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

PropertyValue = str | int | float | bool


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send; fields mirror `azure.servicebus.ServiceBusMessage`."""

    body: bytes
    message_id: str | None = None
    content_type: str | None = "application/json"
    subject: str | None = None
    correlation_id: str | None = None
    session_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    partition_key: str | None = None
    application_properties: dict[str, PropertyValue] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None
    time_to_live: timedelta | None = None


@runtime_checkable
class BusSender(Protocol):
    async def send(self, entity: str, messages: Sequence[OutgoingMessage]) -> None:
        """Send to a topic or queue by name. Returns once the bus has accepted every message."""
        ...
