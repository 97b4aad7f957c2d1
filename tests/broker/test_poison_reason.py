"""A rejected Commerce event on the embedded broker: Service Bus's record is what Azure writes
(MaxDeliveryCountExceeded, its own description, no exception text), and the app's reason code is
recomputed from the kept body, so `cts dlq list --reason CODE` selects it the same way on the
local broker and in Azure (shared.ops.dlq.app_reason)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bus_testkit import SYNC, TOPIC, Clock, declare, open_broker

from local.host.broker import Broker
from shared.bus.protocol import OutgoingMessage
from shared.ops.dlq import app_reason, build_filter, list_all, view


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    b = open_broker(tmp_path, Clock())
    await declare(b)
    yield b
    await b.close()


async def fail_every_delivery(broker: Broker) -> None:
    while got := await broker.receive(SYNC):
        for message in got:
            await broker.abandon(message, error="RejectedMessage: not_json: body is not JSON")


async def test_a_rejected_event_keeps_azures_record_and_is_found_by_the_apps_reason(broker: Broker) -> None:
    await broker.send(TOPIC, [OutgoingMessage(body=b"this is not json", message_id="poison")])
    valid = b'{"EventId": "e1", "BusinessEventId": "X"}'
    await broker.send(TOPIC, [OutgoingMessage(body=valid, message_id="ok")])
    await fail_every_delivery(broker)

    dead = {m.message_id: m for m in await broker.peek_dead_letters(SYNC)}
    poison = dead["poison"]
    assert poison.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert poison.dead_letter_error_description == (
        f"Message could not be consumed after {poison.delivery_count} delivery attempts."
    )
    assert "not_json" not in (poison.dead_letter_error_description or "")  # as in Azure
    assert app_reason(poison) == "not_json"
    assert view(poison)["reason"] == "not_json"
    assert view(poison)["dead_letter_reason"] == "MaxDeliveryCountExceeded"

    by_code = await list_all(broker, [SYNC], build_filter(reasons=["not_json"]))
    assert [m.message_id for m in by_code] == ["poison"]
    by_bus_reason = await list_all(broker, [SYNC], build_filter(reasons=["MaxDeliveryCountExceeded"]))
    assert {m.message_id for m in by_bus_reason} == set(dead)


async def test_an_explicit_dead_letter_keeps_its_own_reason(broker: Broker) -> None:
    await broker.send(TOPIC, [OutgoingMessage(body=b"this is not json", message_id="explicit")])
    [message] = await broker.receive(SYNC)
    await broker.dead_letter(message, reason="ManualHold", description="held by an operator")
    [dead] = await broker.peek_dead_letters(SYNC)
    assert app_reason(dead) is None and view(dead)["reason"] == "ManualHold"
