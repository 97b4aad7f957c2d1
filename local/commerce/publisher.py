"""Turns the model's intents into Service Bus messages, F&O-style, and sends them through any
`BusSender` — with the real world's untidiness on demand:

- `duplicate_factor`: every event is delivered that many times (a fresh message id each time, as
  after a publisher retry; the `EventId` inside stays the same);
- `shuffle_window`: events are held and released in shuffled windows of that size (a partial
  window is released after `shuffle_flush_seconds`);
- `delay_seconds`: events arrive that much later, typically after the record changed again;
- the endpoint-activation test message, on request.

Business events use our catalog (shared/commerce/catalog, docs/events.md). Data events imitate
the Dataverse virtual-table shape (`mserp_` names, OnExternalCreated/Updated/Deleted) and exist
only for the entities the data-event catalog lists.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from local.commerce.data import Database, EntitySpec, Row
from local.commerce.model import Intent
from shared.bus.protocol import BusSender, OutgoingMessage
from shared.commerce.schema import ETAG, FO_NULL_DATETIME

log = logging.getLogger(__name__)

BUSINESS_EVENT = "business_event"
DATA_EVENT = "data_event"
BOTH = "both"
FORMATS = (BUSINESS_EVENT, DATA_EVENT, BOTH)
#: Entities with a data event in our catalog (shared/commerce/catalog/data_events.py).
DATA_EVENT_ENTITIES = frozenset(
    {
        "RetailStoreEntity",
        "RetailChannelWorkerEntity",
        "HcmWorkerEntity",
        "CTSTaskListEntity",
        "CTSTaskEntity",
    }
)
TEST_EVENT_ID = "BusinessEventsTestEndpointContract"
_XRM = "http://schemas.microsoft.com/xrm/2011/Claims/"
_EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


def _date_ms(epoch: float) -> str:
    return f"/Date({int(epoch * 1000)})/"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass
class Untidiness:
    duplicate_factor: int = 1
    shuffle_window: int = 1
    delay_seconds: float = 0.0
    shuffle_flush_seconds: float = 0.5


@dataclass
class Publisher:
    db: Database | None  # None: a publisher of messages built elsewhere (local/dataverse)
    sender: BusSender | None
    topic: str = "commerce-events"
    event_format: str = BUSINESS_EVENT
    seed: int | None = None
    untidy: Untidiness = field(default_factory=Untidiness)
    published: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))
    send_errors: int = 0

    def __post_init__(self) -> None:
        if self.event_format not in FORMATS:
            raise ValueError(f"event_format must be one of {FORMATS}, not {self.event_format!r}")
        self._rng = random.Random(self.seed)
        self._buffer: list[tuple[OutgoingMessage, dict[str, Any]]] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # --- building ------------------------------------------------------------------------------

    def _control_number(self) -> int:
        # "Upwardly increasing … There can be gaps" (business events home page).
        assert self.db is not None
        current = int(self.db.meta("control_number", "5637144576")) + self._rng.randint(1, 3)
        self.db.set_meta("control_number", str(current))
        return current

    def business_message(self, event_id: str, legal_entity: str, fields: dict[str, Any]) -> OutgoingMessage:
        now = time.time()
        body = {
            "BusinessEventId": event_id,
            "BusinessEventLegalEntity": legal_entity,
            "ContextRecordSubject": "",
            "ControlNumber": self._control_number(),
            "EventId": str(uuid.uuid4()).upper(),
            "EventTime": _date_ms(now),
            "EventTimeIso8601": _iso(now),
            "InitiatingUserAADObjectId": "{00000000-0000-0000-0000-000000000000}",
            "MajorVersion": 0,
            "MinorVersion": 0,
            "ParentContextRecordSubjects": None,
            **fields,
        }
        # Which application properties F&O sets is undocumented (docs/events.md); these mirror
        # its filterable fields.
        props: dict[str, str | int | float | bool] = {
            "BusinessEventId": event_id,
            "LegalEntity": legal_entity,
            "Category": "CTS Commerce",
        }
        return OutgoingMessage(
            body=json.dumps(body).encode(),
            message_id=str(uuid.uuid4()),
            content_type="application/json",
            subject=event_id,
            application_properties=props,
        )

    def data_message(
        self, spec: EntitySpec, message: str, before: Row | None, after: Row | None
    ) -> OutgoingMessage:
        logical = "mserp_" + spec.entity.lower()

        def attrs(row: Row, only: set[str] | None = None) -> list[dict[str, Any]]:
            # Null datetimes are dropped from data events (data-events doc); F&O's null is 1900-01-01.
            return [
                {"key": "mserp_" + k.lower(), "value": v}
                for k, v in row.items()
                if k != ETAG and v != FO_NULL_DATETIME and (only is None or k in only)
            ]

        target: dict[str, Any] = {
            "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
            "EntityState": None,
            "FormattedValues": [],
            "Id": str(uuid.uuid4()),
            "LogicalName": logical,
            "RelatedEntities": [],
            "RowVersion": None,
            "Attributes": [],
            "KeyAttributes": [],
        }
        pre: list[dict[str, Any]] = []
        if message == "Create" and after is not None:
            target["Attributes"] = attrs(after)
        elif message == "Update" and after is not None:
            changed = {k for k, v in after.items() if before is None or before.get(k) != v} - {ETAG}
            target["Attributes"] = attrs(after, changed | set(spec.keys))  # only changed columns + keys
        if before is not None and message != "Create":
            pre = [{"key": "PreImage", "value": {"Attributes": attrs(before), "LogicalName": logical}}]
        if message == "Delete":
            target["__type"] = "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"
            target["KeyAttributes"] = attrs(before or {}, set(spec.keys))
        verb = {"Create": "OnExternalCreated", "Update": "OnExternalUpdated", "Delete": "OnExternalDeleted"}[
            message
        ]
        body = {
            "BusinessUnitId": _EMPTY_GUID,
            "CorrelationId": str(uuid.uuid4()),
            "Depth": 1,
            "InitiatingUserAzureActiveDirectoryObjectId": _EMPTY_GUID,
            "InitiatingUserId": _EMPTY_GUID,
            "InputParameters": [{"key": "Target", "value": target}],
            "IsExecutingOffline": False,
            "IsInTransaction": False,
            "IsOfflinePlayback": False,
            "IsolationMode": 1,
            "MessageName": verb,
            "Mode": 1,
            "OperationCreatedOn": _date_ms(time.time()),
            "OperationId": _EMPTY_GUID,
            "OrganizationId": _EMPTY_GUID,
            "OrganizationName": "commerce-sandbox",
            "OutputParameters": [],
            "ParentContext": None,
            "PostEntityImages": [],
            "PreEntityImages": pre,
            "PrimaryEntityId": _EMPTY_GUID,
            "PrimaryEntityName": logical,
            "RequestId": str(uuid.uuid4()),
            "SecondaryEntityName": "none",
            "SharedVariables": [],
            "Stage": 40,
            "UserAzureActiveDirectoryObjectId": _EMPTY_GUID,
            "UserId": _EMPTY_GUID,
        }
        # Dataverse's Service Bus endpoint sets these claims as message properties.
        props: dict[str, str | int | float | bool] = {
            _XRM + "EntityLogicalName": logical,
            _XRM + "RequestName": verb,
            _XRM + "Organization": "commerce-sandbox",
        }
        return OutgoingMessage(
            body=json.dumps(body).encode(),
            message_id=str(uuid.uuid4()),
            content_type="application/json",
            application_properties=props,
        )

    def messages_for(self, intents: list[Intent]) -> list[tuple[OutgoingMessage, dict[str, Any]]]:
        out = []
        for intent in intents:
            if intent.business and self.event_format in (BUSINESS_EVENT, BOTH):
                event_id, le, fields = intent.business
                out.append(
                    (
                        self.business_message(event_id, le, fields),
                        {"format": BUSINESS_EVENT, "type": event_id, **fields},
                    )
                )
            if intent.data and self.event_format in (DATA_EVENT, BOTH):
                kind, message, before, after = intent.data
                assert self.db is not None
                spec = self.db.specs[kind]
                if spec.entity in DATA_EVENT_ENTITIES:
                    out.append(
                        (
                            self.data_message(spec, message, before, after),
                            {
                                "format": DATA_EVENT,
                                "type": f"{spec.entity}:{message}",
                                "keys": [str((after or before or {}).get(k)) for k in spec.keys],
                            },
                        )
                    )
        return out

    # --- sending -------------------------------------------------------------------------------

    async def publish(self, intents: list[Intent]) -> int:
        """Build, make untidy as configured, send. Returns how many messages were produced."""
        return await self.publish_built(self.messages_for(intents))

    async def publish_built(self, built: list[tuple[OutgoingMessage, dict[str, Any]]]) -> int:
        """Make untidy as configured and send messages built by the caller (with their summary)."""
        copies: list[tuple[OutgoingMessage, dict[str, Any]]] = []
        for msg, summary in built:
            copies.append((msg, summary))
            for _ in range(max(1, self.untidy.duplicate_factor) - 1):
                dup = dataclasses.replace(msg, message_id=str(uuid.uuid4()))
                copies.append((dup, {**summary, "duplicate": True}))
        if self.untidy.shuffle_window > 1:
            self._buffer.extend(copies)
            while len(self._buffer) >= self.untidy.shuffle_window:
                window = self._buffer[: self.untidy.shuffle_window]
                del self._buffer[: self.untidy.shuffle_window]
                self._rng.shuffle(window)
                await self._deliver(window)
            if self._buffer and self._flush_task is None:
                self._flush_task = asyncio.create_task(self._flush_later())
        else:
            await self._deliver(copies)
        return len(copies)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.untidy.shuffle_flush_seconds)
        self._flush_task = None
        await self.flush()

    async def flush(self) -> None:
        """Release whatever a shuffle window still holds (shuffled)."""
        held, self._buffer = self._buffer, []
        self._rng.shuffle(held)
        await self._deliver(held)

    async def _deliver(self, batch: list[tuple[OutgoingMessage, dict[str, Any]]]) -> None:
        if not batch:
            return
        if self.untidy.delay_seconds > 0:
            task = asyncio.create_task(self._send_later(self.untidy.delay_seconds, batch))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        await self._send(batch)

    async def _send_later(self, delay: float, batch: list[tuple[OutgoingMessage, dict[str, Any]]]) -> None:
        await asyncio.sleep(delay)
        await self._send(batch)

    async def _send(self, batch: list[tuple[OutgoingMessage, dict[str, Any]]]) -> None:
        for msg, summary in batch:
            self.published.append({**summary, "message_id": msg.message_id, "sent_at": _iso(time.time())})
        if self.sender is None:
            return
        try:
            await self.sender.send(self.topic, [m for m, _ in batch])
        except Exception:  # the sandbox keeps serving; the test or operator sees send_errors
            self.send_errors += len(batch)
            log.exception("commerce sandbox: sending %d event(s) to %s failed", len(batch), self.topic)

    async def send_test_message(self, legal_entity: str = "USRT") -> None:
        """What F&O sends when an endpoint is activated (docs/events.md, 'The endpoint test message')."""
        body = {
            "BusinessEventId": TEST_EVENT_ID,
            "BusinessEventLegalEntity": legal_entity,
            "ControlNumber": -9223372036854775808,
            "EventId": str(uuid.uuid4()).upper(),
        }
        msg = OutgoingMessage(body=json.dumps(body).encode(), message_id=str(uuid.uuid4()))
        await self._send([(msg, {"format": BUSINESS_EVENT, "type": TEST_EVENT_ID})])

    async def send_raw(self, raw: str | bytes) -> None:
        """A body put on the topic as is (scenario step `fault: poison_event`)."""
        data = raw.encode() if isinstance(raw, str) else raw
        await self._send([(OutgoingMessage(body=data, message_id=str(uuid.uuid4())), {"format": "raw"})])

    async def drain(self) -> None:
        """Wait for delayed sends and release held windows (tests, shutdown)."""
        await self.flush()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
