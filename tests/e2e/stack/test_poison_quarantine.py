"""A poison Commerce event on the local stack: in a dead-letter queue after ONE delivery, with the
app's reason code as DeadLetterReason (the quarantine, shared/bus/quarantine.py); found by
`cts dlq list --reason`, replayed to the topic; and what happens when the quarantine fails.

The app opens its bus through `CTS_BUS__LOCAL_BROKER_FACTORY`, here `faulty_bus.open_broker`: the
real embedded broker, failing the next N quarantine sends / dead-letterings when a test says so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faulty_bus import DEAD_LETTER_FAULTS, SEND_FAULTS
from typer.testing import CliRunner

from cts.cli import app as cts_app
from local.stack import Stack, StackConfig
from shared.bus.protocol import EntityRef, ReceivedMessage
from shared.bus.quarantine import QUARANTINE_QUEUE, Rejected, quarantine_copy

ORG = Path(__file__).with_name("org.json")
SUB = EntityRef("commerce-events", "teams-sync")
QUARANTINE = EntityRef(QUARANTINE_QUEUE)
NOT_JSON = "not_json"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        org=ORG,
        data_dir=tmp_path_factory.mktemp("quarantine"),
        port_base=0,
        graph_scale=0.2,
        sweep_schedule="*/2 * * * * *",  # the timer that drains the quarantine queue
        extra_settings={"CTS_BUS__LOCAL_BROKER_FACTORY": "tests.e2e.stack.faulty_bus:open_broker"},
    )
    with Stack(config) as running:
        yield running


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def letters(stack: Stack, marker: str) -> list[ReceivedMessage]:
    """Dead letters (any entity) whose body contains `marker`."""
    return [m for m in stack.bus.dead_letters() if marker.encode() in m.body]


def poison(stack: Stack, marker: str) -> None:
    stack.bus.send_raw(f"this is not json {marker}".encode(), message_id=f"poison-{marker}")


def inject(stack: Stack, name: str, times: int) -> None:
    (stack.data / "host" / name).write_text(str(times))


def cts(stack: Stack, *args: str) -> Any:
    result = CliRunner().invoke(cts_app, ["--data", str(stack.data), "--host", stack.host_url, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_poison_event_is_dead_lettered_after_one_delivery_with_the_apps_reason(stack: Stack) -> None:
    poison(stack, "m1")
    [dead] = wait_for(lambda: letters(stack, "m1"), 30, "the poison event in a DLQ")
    assert dead.entity == QUARANTINE
    # What Service Bus records on the dead letter: our code and our description.
    assert dead.dead_letter_reason == NOT_JSON
    assert dead.dead_letter_error_description and "JSON" in dead.dead_letter_error_description
    props = dead.application_properties
    assert props["cts-source-delivery-count"] == 1  # the trigger's first delivery did it
    assert props["cts-source-entity"] == SUB.path
    assert props["x-original-message-id"] == "poison-m1"
    assert dead.delivery_count == 1  # the quarantine's own receive, once
    stack.converged(timeout=30)
    counts = stack.bus.counts()
    assert counts[SUB.path]["dead_letter"] == 0  # the original was completed, not dead-lettered
    assert counts[SUB.path]["active"] == counts[SUB.path]["locked"] == 0
    assert counts[QUARANTINE.path]["active"] == counts[QUARANTINE.path]["locked"] == 0

    # cts finds it by our code, and says where it came from.
    listed = [
        d for d in cts(stack, "dlq", "list", "--reason", NOT_JSON, "--json")
        if d["original_message_id"] == "poison-m1"
    ]  # fmt: skip
    assert [(d["entity"], d["reason"], d["dead_letter_reason"], d["source_entity"]) for d in listed] == [
        (QUARANTINE_QUEUE, NOT_JSON, NOT_JSON, SUB.path)
    ]

    # Replay sends it back to the topic for the teams-sync subscription; still poison, so the
    # trigger rejects it again, at its first delivery, and it is back in the DLQ with a replay count.
    seq = str(dead.sequence_number)
    summary = cts(stack, "dlq", "replay", "--seq", seq, "--entity", QUARANTINE_QUEUE, "--yes", "--json")
    assert summary["done"] == 1
    again = wait_for(
        lambda: [m for m in letters(stack, "m1") if m.sequence_number != dead.sequence_number],
        30,
        "the replay",
    )
    assert dead.sequence_number not in [m.sequence_number for m in letters(stack, "m1")]
    [back] = again
    assert back.dead_letter_reason == NOT_JSON and back.entity == QUARANTINE
    assert back.application_properties["x-replay-count"] == 1
    assert back.application_properties["x-original-message-id"] == "poison-m1"
    assert back.application_properties["cts-source-entity"] == SUB.path
    assert back.application_properties["cts-source-delivery-count"] == 1
    assert back.application_properties["cts-source-sequence-number"] != props["cts-source-sequence-number"]


def test_a_failed_quarantine_send_leaves_the_message_on_the_subscription(stack: Stack) -> None:
    inject(stack, SEND_FAULTS, 2)
    poison(stack, "m2")
    [dead] = wait_for(lambda: letters(stack, "m2"), 30, "the poison event in a DLQ")
    # Two deliveries were abandoned (the copy was not sent); the third was quarantined.
    assert dead.entity == QUARANTINE and dead.dead_letter_reason == NOT_JSON
    assert dead.application_properties["cts-source-delivery-count"] == 3
    assert (stack.data / "host" / SEND_FAULTS).read_text() == "0"


def test_a_copy_left_in_the_queue_is_dead_lettered_once_by_the_timer(stack: Stack) -> None:
    # The trigger's own drain fails after the send (as if the instance died there): the function
    # still returns, the original is completed, and the sweeper-timed drain takes the copy.
    inject(stack, DEAD_LETTER_FAULTS, 1)
    poison(stack, "m3")
    [dead] = wait_for(lambda: letters(stack, "m3"), 30, "the copy dead-lettered by the timer")
    assert dead.dead_letter_reason == NOT_JSON
    assert dead.application_properties["cts-source-delivery-count"] == 1
    assert dead.delivery_count == 2  # the failed drain's receive, then the timer's
    stack.converged(timeout=30)
    assert len(letters(stack, "m3")) == 1
    assert stack.bus.counts()[SUB.path]["dead_letter"] == 0


def test_a_copy_a_crash_left_active_is_drained_by_the_timer(stack: Stack) -> None:
    # What a crash between the send and the dead-lettering leaves: the copy, active in the queue.
    copy = quarantine_copy(
        Rejected(
            body=b"crash m4",
            source=SUB,
            reason="not_an_object",
            description="the body is JSON but not an object",
            message_id="poison-m4",
            sequence_number=987654,
            delivery_count=1,
        )
    )
    stack.bus.send_raw(copy.body, QUARANTINE_QUEUE, message_id=copy.message_id,
                       application_properties=copy.application_properties)  # fmt: skip
    [dead] = wait_for(lambda: letters(stack, "m4"), 30, "the timer's drain")
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == (
        "not_an_object",
        "the body is JSON but not an object",
    )
    # The same copy again (a redelivery of the original after its completion was lost): the
    # queue's duplicate detection drops it, so there is still one dead letter.
    stack.bus.send_raw(copy.body, QUARANTINE_QUEUE, message_id=copy.message_id,
                       application_properties=copy.application_properties)  # fmt: skip
    stack.converged(timeout=30)
    assert len(letters(stack, "m4")) == 1


def test_a_bad_graph_notifications_message_takes_the_same_path(stack: Stack) -> None:
    stack.bus.send_raw(b"{not json m5", "graph-notifications", message_id="bad-notifications-m5")
    [dead] = wait_for(lambda: letters(stack, "m5"), 30, "the bad queue message in a DLQ")
    assert (dead.entity, dead.dead_letter_reason) == (QUARANTINE, "invalid-json")
    assert dead.application_properties["cts-source-entity"] == "graph-notifications"
    assert dead.application_properties["cts-source-delivery-count"] == 1
    assert stack.bus.counts()["graph-notifications"]["dead_letter"] == 0


def test_many_poison_events_at_once_each_make_one_letter(stack: Stack) -> None:
    # Concurrent invocations drain each other's copies; every letter still has its own reason.
    from shared.bus.protocol import OutgoingMessage

    bodies = [f"not json m6-{i}".encode() if i % 2 else f'["m6-{i}"]'.encode() for i in range(40)]
    messages = [OutgoingMessage(body=b, message_id=f"m6-{i}") for i, b in enumerate(bodies)]
    stack.loop.run(stack.bus.send("commerce-events", messages))
    wait_for(
        lambda: len([m for m in letters(stack, "m6-") if m.message_id.startswith("q-")]) >= 40,
        60,
        "40 letters",
    )
    stack.converged(timeout=30)
    got = {m.application_properties["x-original-message-id"]: m for m in stack.bus.dead_letters()
           if str(m.application_properties.get("x-original-message-id", "")).startswith("m6-")}  # fmt: skip
    assert len(got) == 40 and len(letters(stack, "m6-")) == 40  # one each, none twice
    for i in range(40):
        letter = got[f"m6-{i}"]
        assert letter.dead_letter_reason == ("not_json" if i % 2 else "not_an_object")
        assert letter.application_properties["cts-source-delivery-count"] == 1
    assert stack.bus.counts()[SUB.path]["dead_letter"] == 0
