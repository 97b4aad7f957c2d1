"""Every side-channel change publishes the events F&O would, in both formats, and the app's intake
parser (`shared.commerce.events.parse_message`) understands each of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.commerce.testing import CommerceSandboxHandle, RecordingSender
from shared.commerce.client import CommerceClient
from shared.commerce.events import parse_message
from shared.domain.commerce import StoreStatus
from shared.domain.events import CommerceHint, EventFormat
from shared.domain.events import TestMessage as EndpointTestMessage
from shared.domain.tasks import TaskStatus

NEW_WORKER = {"personnel_number": "008001", "name": "Noor Haddad", "upn": "noor.haddad@contoso.example"}
NEW_STORE = {
    "number": "0042",
    "name": "Seattle Waterfront",
    "region": "WEST",
    "time_zone": "Pacific Standard Time",
}

Hint = tuple[str, tuple[tuple[str, str], ...]]


def hint(scope: str, **ids: str) -> Hint:
    return scope, tuple(sorted(ids.items()))


# (step, hints from business events, hints from data events). RetailChannelId is 'RC' + store
# number in the sandbox: data events name the channel, and the handler resolves it.
CASES: list[tuple[dict[str, Any], set[Hint], set[Hint]]] = [
    (
        {"commerce": "open_store", "store": NEW_STORE},
        {hint("store", store="0042")},
        {hint("store", store="0042")},
    ),
    (
        {"commerce": "close_store", "store": "0003"},
        {hint("store", store="0003")},
        {hint("store", store="0003")},
    ),
    (
        {"commerce": "reopen_store", "store": "0003"},
        {hint("store", store="0003")},
        {hint("store", store="0003")},
    ),
    (
        {"commerce": "rename_store", "store": "0003", "name": "Denver Union Station"},
        {hint("store", store="0003")},
        {hint("store", store="0003")},
    ),
    (
        {"commerce": "hire_worker", "worker": NEW_WORKER, "store": "0004", "role": "worker"},
        {hint("worker", worker="008001"), hint("assignment", store="0004", worker="008001")},
        {hint("worker", worker="008001"), hint("assignment", channel="RC0004", worker="008001")},
    ),
    (
        {"commerce": "assign_worker", "personnel_number": "000020", "store": "0006", "role": "worker"},
        {hint("assignment", store="0006", worker="000020")},
        {hint("assignment", channel="RC0006", worker="000020")},
    ),
    (
        {
            "commerce": "transfer_worker",
            "personnel_number": "000020",
            "from_store": "0007",
            "to_store": "0008",
        },
        {
            hint("worker", worker="000020"),
            hint("assignment", store="0007", worker="000020"),
            hint("assignment", store="0008", worker="000020"),
        },
        {
            hint("assignment", channel="RC0007", worker="000020"),
            hint("assignment", channel="RC0008", worker="000020"),
        },
    ),
    (
        {"commerce": "change_role", "personnel_number": "000020", "store": "0007", "role": "manager"},
        {hint("assignment", store="0007", worker="000020"), hint("worker", worker="000020")},
        {hint("assignment", channel="RC0007", worker="000020")},
    ),
    (
        {"commerce": "terminate_worker", "personnel_number": "000020"},
        {hint("worker", worker="000020")},
        {hint("worker", worker="000020")},
    ),
    (
        {
            "commerce": "publish_task_list",
            "task_list": "TL-1",
            "stores": ["0004", "0005"],
            "target_date": "2026-12-01",
        },
        {hint("task_list", task_list="TL-1")},
        {hint("task", task_list="TL-1", task=t, store=s) for t in ("1", "2", "3") for s in ("0004", "0005")},
    ),
    (
        {
            "commerce": "update_task",
            "task_list": "TL-2",
            "task": "2",
            "fields": {"notes": "Use the new form"},
        },
        {hint("task", task_list="TL-2", task="2", store=s) for s in ("0001", "0002", "0003")},
        {hint("task", task_list="TL-2", task="2", store=s) for s in ("0001", "0002", "0003")},
    ),
    (
        {"commerce": "cancel_task", "task_list": "TL-2", "task": "1", "store": "0002"},
        {hint("task", task_list="TL-2", task="1", store="0002")},
        {hint("task", task_list="TL-2", task="1", store="0002")},
    ),
    (
        {
            "commerce": "set_task_status",
            "task_list": "TL-2",
            "task": "1",
            "store": "0003",
            "status": "completed",
            "by": "000006",
        },
        {hint("task", task_list="TL-2", task="1", store="0003")},
        {hint("task", task_list="TL-2", task="1", store="0003")},
    ),
    # The hierarchy has no data event in our catalog: only the business event reports it.
    (
        {"commerce": "change_region_managers", "region": "EAST", "managers": ["000001"]},
        {hint("region", region="EAST")},
        set(),
    ),
]


def parsed(sender: RecordingSender) -> list[CommerceHint | EndpointTestMessage]:
    out = []
    for entity, message in sender.sent:
        assert entity == "commerce-events"
        result = parse_message(
            message.body,
            content_type=message.content_type,
            application_properties=message.application_properties,
        )
        assert isinstance(result, (CommerceHint, EndpointTestMessage)), result
        out.append(result)
    return out


def hints_by_format(sender: RecordingSender) -> dict[EventFormat, set[Hint]]:
    out: dict[EventFormat, set[Hint]] = {EventFormat.BUSINESS_EVENT: set(), EventFormat.DATA_EVENT: set()}
    for h in parsed(sender):
        assert isinstance(h, CommerceHint)
        out[h.format].add((h.scope.value, tuple(sorted(h.ids.items()))))
    return out


def _prepare(sandbox: CommerceSandboxHandle, step: dict[str, Any]) -> None:
    """Bring the org into the state a step needs (the sample org as generated)."""
    verb = step["commerce"]
    if verb == "reopen_store":
        sandbox.change("close_store", store="0003")


@pytest.mark.parametrize(("step", "business", "data"), CASES, ids=[c[0]["commerce"] for c in CASES])
def test_every_change_publishes_its_events_in_both_formats(
    sandbox: CommerceSandboxHandle,
    sender: RecordingSender,
    step: dict[str, Any],
    business: set[Hint],
    data: set[Hint],
) -> None:
    store_of_000020 = next(a["store"] for a in _sample_assignments() if a["personnel_number"] == "000020")
    assert store_of_000020 == "0007", "the cases assume the sample org's 000020 works at 0007"
    _prepare(sandbox, step)
    sender.clear()
    produced = sandbox.apply(step)
    got = hints_by_format(sender)
    assert produced == len(sender.sent)
    assert got[EventFormat.BUSINESS_EVENT] == business
    if step["commerce"] == "terminate_worker":
        data = data | {hint("assignment", channel=f"RC{store_of_000020}", worker="000020")}
    assert got[EventFormat.DATA_EVENT] == data


def _sample_assignments() -> list[dict[str, Any]]:
    from local.scenarios import SAMPLE_ORG

    return list(json.loads(SAMPLE_ORG.read_text(encoding="utf-8"))["assignments"])


def test_business_events_carry_the_envelope(sandbox: CommerceSandboxHandle, sender: RecordingSender) -> None:
    sandbox.change("close_store", store="0003")
    sandbox.change("reopen_store", store="0003")
    bodies = [json.loads(m.body) for _, m in sender.sent if b"BusinessEventId" in m.body]
    assert [b["ChangeKind"] for b in bodies] == ["Closed", "Opened"]
    assert bodies[0]["ControlNumber"] < bodies[1]["ControlNumber"]
    assert bodies[0]["EventTime"].startswith("/Date(") and bodies[0]["BusinessEventLegalEntity"] == "USRT"
    assert (bodies[0]["MajorVersion"], bodies[0]["MinorVersion"]) == (0, 0)


def test_duplicates_repeat_the_event_id_under_new_message_ids(
    sandbox: CommerceSandboxHandle,
    sender: RecordingSender,
) -> None:
    sandbox.configure_events(duplicate_factor=3, format="business_event")
    sandbox.change("rename_store", store="0001", name="Seattle Pike Place")
    hints = parsed(sender)
    assert len(hints) == 3
    assert len({h.dedupe_key for h in hints if isinstance(h, CommerceHint)}) == 1
    assert len({m.message_id for _, m in sender.sent}) == 3


def test_shuffled_events_all_arrive_out_of_order(
    sandbox: CommerceSandboxHandle, sender: RecordingSender
) -> None:
    sandbox.configure_events(shuffle_window=6, format="business_event")
    for name in ("A", "B", "C", "D", "E", "F", "G", "H"):
        sandbox.change("rename_store", store="0001", name=f"Seattle {name}")
    sandbox.flush_events()  # the partial window (2 events) is released
    numbers = [h.control_number for h in parsed(sender) if isinstance(h, CommerceHint)]
    assert len(numbers) == 8
    assert numbers != sorted(numbers)


async def test_late_events_name_records_already_changed_again(
    sandbox: CommerceSandboxHandle,
    sender: RecordingSender,
) -> None:
    sandbox.configure_events(delay_seconds=0.3, format="business_event")
    sandbox.change("close_store", store="0005")
    sandbox.change("reopen_store", store="0005")
    assert sender.sent == []  # nothing yet: both events are on their way
    sandbox.flush_events()  # waits for the delayed sends
    first = json.loads(sender.sent[0][1].body)
    assert first["ChangeKind"] == "Closed"
    async with CommerceClient.for_sandbox(sandbox.base_url, sandbox.token) as commerce:
        assert (await commerce.store("0005")).status is StoreStatus.OPEN  # the truth moved on


def test_activation_test_message_is_recognised(
    sandbox: CommerceSandboxHandle, sender: RecordingSender
) -> None:
    sandbox.send_test_message()
    (result,) = parsed(sender)
    assert isinstance(result, EndpointTestMessage)


async def test_status_written_by_the_app_comes_back_as_an_event(
    sandbox: CommerceSandboxHandle,
    sender: RecordingSender,
) -> None:
    async with CommerceClient.for_sandbox(sandbox.base_url, sandbox.token) as commerce:
        (task,) = await commerce.store_tasks(task_list="TL-2", task="2", store="0002")
        await commerce.update_store_task(task, status=TaskStatus.IN_PROGRESS)
    assert hints_by_format(sender)[EventFormat.BUSINESS_EVENT] == {
        hint("task", task_list="TL-2", task="2", store="0002")
    }


def test_poison_event_is_put_on_the_topic_as_is(
    sandbox: CommerceSandboxHandle, sender: RecordingSender
) -> None:
    sandbox.apply({"fault": "poison_event", "raw": "not json"})
    assert [m.body for _, m in sender.sent] == [b"not json"]
