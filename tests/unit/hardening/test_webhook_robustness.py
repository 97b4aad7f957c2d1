"""Issue #17, webhook robustness: nothing a sender puts in a POST makes the webhook fail before the
clientState check, one bad item costs only itself, and what is queued always fits the queue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.host.broker import Broker
from local.host.broker._broker import MessageSizeExceeded
from shared.bus.protocol import OutgoingMessage
from shared.domain.subscriptions import Subscription
from shared.drift import subscription_records
from shared.drift.processing import DriftProcessor, read_message
from shared.drift.webhook import MESSAGE_SCHEMA, answer
from shared.state import StateStore
from shared.state.sqlite import SqliteBackend

SECRET = "s3cr3t-client-state"
SUB = "5a1f0c3e-0000-4000-8000-000000000001"
OTHER_SUB = "5a1f0c3e-0000-4000-8000-000000000002"
TENANT = "7c2d9e4f-0000-4000-8000-00000000000a"
TEAM = "0f6d9c1e-1111-4d2b-9a5e-2b8c7d6e5f40"
STANDARD_MAX = 256 * 1024


def item(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "subscriptionId": SUB,
        "clientState": SECRET,
        "changeType": "updated",
        "resource": f"teams('{TEAM}')",
        "tenantId": TENANT,
        "resourceData": {"id": TEAM},
    }
    base.update(over)
    return base


def body(*items: dict[str, Any]) -> bytes:
    return json.dumps({"value": list(items)}).encode()


def test_deep_nesting_is_a_400_not_a_500() -> None:
    reply = answer(None, b"[" * 100_000, SECRET)
    assert reply.status == 400 and reply.messages == ()


def test_a_lone_surrogate_client_state_is_dropped_not_a_500() -> None:
    raw = b'{"value":[{"subscriptionId":"' + SUB.encode() + b'","clientState":"\\ud800",'
    raw += b'"changeType":"updated","resource":"teams(\'x\')"}]}'
    reply = answer(None, raw, SECRET)
    assert reply.status == 202 and reply.dropped == 1 and reply.messages == ()


def test_one_bad_item_does_not_cost_the_other_subscriptions_notifications() -> None:
    reply = answer(
        None,
        body(item(), item(changeType="renamed"), 42, item(subscriptionId=OTHER_SUB)),  # type: ignore[arg-type]
        SECRET,
    )
    assert reply.status == 202 and reply.accepted == 2 and reply.dropped == 2
    queued = [n.subscription_id for m in reply.messages for n in read_message(m)]
    assert queued == [SUB, OTHER_SUB]
    assert reply.reasons == {"invalid-notification": 1, "client-state-mismatch": 1}


def test_five_thousand_notifications_are_split_under_the_standard_message_size() -> None:
    items = [item(resource=f"teams('{TEAM}')/members('{'m' * 80}{i:05d}')") for i in range(5_000)]
    raw = body(*items)
    assert len(raw) > 3 * STANDARD_MAX  # one message would be refused by Service Bus Standard
    reply = answer(None, raw, SECRET, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert reply.status == 202 and reply.accepted == 5_000 and len(reply.messages) >= 4
    assert all(len(m.encode()) <= 192 * 1024 for m in reply.messages)
    assert sum(len(read_message(m)) for m in reply.messages) == 5_000
    assert all(json.loads(m)["schema"] == MESSAGE_SCHEMA for m in reply.messages)


async def test_the_local_broker_refuses_a_message_over_the_standard_limit(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "sb.sqlite")
    try:
        await broker.ensure_queue("q")
        with pytest.raises(MessageSizeExceeded):
            await broker.send("q", [OutgoingMessage(body=b"x" * (STANDARD_MAX + 1))])
        await broker.send("q", [OutgoingMessage(body=b"x" * 1000)])
    finally:
        await broker.close()


def test_the_validation_token_is_capped_and_never_sniffed() -> None:
    ok = answer("Validation: Testing client application reachability", b"", SECRET)
    assert ok.status == 200 and ok.content_type == "text/plain"
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    huge = answer("<script>" + "x" * 5_000, b"", SECRET)
    assert huge.status == 400 and "<script>" not in huge.body
    assert huge.headers["X-Content-Type-Options"] == "nosniff"


def test_a_notification_of_another_tenant_is_dropped() -> None:
    reply = answer(
        None, body(item(), item(tenantId="11111111-2222-4333-8444-555555555555")), SECRET, tenant_id=TENANT
    )
    assert reply.accepted == 1 and reply.reasons == {"other-tenant": 1}


class NoDurable:
    async def runtime_status(self, instance_id: str) -> str | None:
        return None

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        raise AssertionError("nothing may start for a subscription the app does not hold")

    async def last_updated(self, instance_id: str) -> datetime | None:
        return None


class RecordingKeeper:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def reauthorize(self, subscription_id: str) -> object:
        self.calls.append("reauthorize")
        return None

    async def replace_removed(self, subscription_id: str) -> object:
        self.calls.append("ensure")
        return None


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    s = StateStore(SqliteBackend(tmp_path / "state.sqlite"))
    await subscription_records.put_subscription(
        s,
        Subscription(
            subscription_id=SUB,
            resource="/teams/getAllMembers",
            change_type="created,updated,deleted",
            notification_url="https://app/api/graph/notifications",
            expiration=datetime(2030, 1, 1, tzinfo=UTC),
        ),
    )
    yield s
    await s.close()


def queued(*items: dict[str, Any]) -> bytes:
    return json.dumps({"schema": MESSAGE_SCHEMA, "endpoint": "lifecycle", "value": list(items)}).encode()


async def test_subscription_removed_for_an_unknown_id_does_not_run_a_full_ensure(state: StateStore) -> None:
    keeper = RecordingKeeper()
    unknown = {"subscriptionId": OTHER_SUB, "lifecycleEvent": "subscriptionRemoved"}
    outcomes = await DriftProcessor(state, NoDurable(), keeper).process(queued(unknown))
    assert [o.what for o in outcomes] == ["unknown-subscription"] and keeper.calls == []


async def test_notifications_of_unknown_subscriptions_are_dropped(state: StateStore) -> None:
    change = {"subscriptionId": OTHER_SUB, "changeType": "updated", "resource": f"teams('{TEAM}')"}
    missed = {"subscriptionId": OTHER_SUB, "lifecycleEvent": "missed"}
    outcomes = await DriftProcessor(state, NoDurable(), RecordingKeeper()).process(queued(change, missed))
    assert [o.what for o in outcomes] == ["unknown-subscription", "unknown-subscription"]


def test_a_lone_surrogate_deep_in_resource_data_drops_that_item_only() -> None:
    # found by `make fuzz`: the item parsed, then could not be serialised for the queue (500)
    raw = body(item(), item(resourceData={"": {"\ud800": None}}))
    reply = answer(None, raw, SECRET)
    assert reply.status == 202 and reply.accepted == 1 and reply.reasons == {"invalid-notification": 1}


async def test_the_local_broker_counts_the_properties_against_the_limit(tmp_path: Path) -> None:
    """The 256 KB include the headers (service-bus-quotas): a body that fits alone is refused
    when its application properties take it over, as the service would refuse it."""
    broker = Broker(tmp_path / "sb.sqlite")
    try:
        await broker.ensure_queue("q")
        body = b"x" * (STANDARD_MAX - 2_000)
        await broker.send("q", [OutgoingMessage(body=body)])
        with pytest.raises(MessageSizeExceeded, match="body and properties"):
            await broker.send("q", [OutgoingMessage(body=body, application_properties={"note": "y" * 4_000})])
    finally:
        await broker.close()
