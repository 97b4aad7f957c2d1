"""`cts dlq` against the local host's broker: a real handler that fails until its cause is fixed.

The replay rules on their own (copy properties, ceiling, crash between send and complete, a copy
failing again inside the same run) are tested in tests/broker/test_replay_broker.py and
tests/unit/bus; these tests drive them through the CLI, a running host and the state store.
"""

from __future__ import annotations

import json
from datetime import timedelta

from conftest import SYNC, TOPIC, OpsStack, event, wait_for

from shared.bus.protocol import OutgoingMessage
from shared.bus.replay import ORIGINAL_DLQ_REASON, ORIGINAL_MESSAGE_ID, REPLAY_COUNT


def dlq_json(stack: OpsStack, *args: str) -> list[dict]:  # type: ignore[type-arg]
    result = stack.cts("dlq", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_replay_after_the_cause_is_fixed_reaches_the_handler_once_with_provenance(
    ops_stack: OpsStack,
) -> None:
    [dead] = ops_stack.dead_letter({**event("0042"), "id": "evt-42"})
    assert (dead.dead_letter_reason, dead.delivery_count) == ("MaxDeliveryCountExceeded", 10)
    ops_stack.fix()

    result = ops_stack.cts("dlq", "replay", "--all", "--yes")

    assert result.exit_code == 0, result.output
    assert "1 replayed" in result.stdout
    [handled] = wait_for(ops_stack.handled, what="the replayed copy to be handled")
    assert handled["id"] != "evt-42"
    assert handled["props"][ORIGINAL_MESSAGE_ID] == "evt-42"
    assert handled["props"][REPLAY_COUNT] == 1
    assert handled["props"][ORIGINAL_DLQ_REASON] == "MaxDeliveryCountExceeded"
    assert ops_stack.dead_letters() == []
    [audit] = ops_stack.audit()
    assert (audit["action"], audit["message_id"], audit["new_message_id"]) == (
        "replay",
        "evt-42",
        handled["id"],
    )
    assert audit["actor"].startswith("cli:")


def test_a_message_failing_again_returns_to_the_dlq_with_its_replay_count_then_is_refused(
    ops_stack: OpsStack,
) -> None:
    ops_stack.dead_letter({**event("0042"), "id": "evt-7"})

    assert ops_stack.cts("dlq", "replay", "--all", "--yes").exit_code == 0
    [back] = wait_for(lambda: dlq_json(ops_stack), 20, "the copy to be dead-lettered again")
    assert (back["replay_count"], back["original_message_id"]) == (1, "evt-7")

    refused = ops_stack.cts("dlq", "replay", "--all", "--yes", "--max-replays", "1")
    assert refused.exit_code == 0, refused.output
    assert "1 refused" in refused.stdout
    assert [m["sequence_number"] for m in dlq_json(ops_stack)] == [back["sequence_number"]]
    assert [a["action"] for a in ops_stack.audit()] == ["replay", "refused"]
    assert ops_stack.handled() == []


def test_a_dry_run_changes_nothing(ops_stack: OpsStack) -> None:
    before = [m.sequence_number for m in ops_stack.dead_letter(event("0001"), event("0002"))]
    ops_stack.fix()

    replay = ops_stack.cts("dlq", "replay")
    purge = ops_stack.cts("dlq", "purge", "--json")

    assert replay.exit_code == 0 and "dry run: nothing changed" in replay.stdout
    assert "2 would be replayed" in replay.stdout
    assert json.loads(purge.stdout)["dry_run"] is True
    assert [m.sequence_number for m in ops_stack.dead_letters()] == before
    assert ops_stack.handled() == []
    assert ops_stack.audit() == []


def test_filters_select_exactly_what_they_say(ops_stack: OpsStack) -> None:
    ops_stack.dead_letter(
        event("0042"),
        event("0042", "RetailWorkerChanged"),
        event("0007"),
        event("0007", "RetailWorkerChanged"),
    )
    ops_stack.bus(lambda b: b.send(TOPIC, [OutgoingMessage(body=b"not json", message_id="junk")]))
    wait_for(lambda: len(ops_stack.dead_letters()) == 5, 20, "the fifth dead letter")
    everything = dlq_json(ops_stack)

    def seqs(*args: str) -> list[int]:
        return [m["sequence_number"] for m in dlq_json(ops_stack, *args)]

    def expected(pred) -> list[int]:  # type: ignore[no-untyped-def]
        return [m["sequence_number"] for m in everything if pred(m)]

    assert seqs("--store", "0042") == expected(lambda m: m["store"] == "0042")
    assert len(seqs("--store", "0042")) == 2
    assert seqs("--event-type", "RetailWorkerChanged") == expected(
        lambda m: m["event_type"] == "RetailWorkerChanged"
    )
    assert seqs("--store", "0007", "--event-type", "RetailStoreChanged") == expected(
        lambda m: m["store"] == "0007" and m["event_type"] == "RetailStoreChanged"
    )
    assert seqs("--reason", "MaxDeliveryCountExceeded") == expected(lambda m: True)
    assert seqs("--reason", "Nope") == []
    assert seqs("--limit", "2") == expected(lambda m: True)[:2]
    assert seqs("--since", "1h") == expected(lambda m: True)
    assert seqs("--until", "1h") == []
    assert seqs("--until", "2099-01-01") == expected(lambda m: True)

    ops_stack.fix()
    result = ops_stack.cts("dlq", "replay", "--store", "0042", "--event-type", "RetailWorkerChanged", "--yes")
    assert result.exit_code == 0, result.output
    [handled] = wait_for(ops_stack.handled, what="the one selected copy")
    assert json.loads(handled["body"]) == {"BusinessEventId": "RetailWorkerChanged", "StoreNumber": "0042"}
    assert len(ops_stack.dead_letters()) == 4


def test_the_copy_is_not_dropped_by_duplicate_detection(ops_stack: OpsStack) -> None:
    ops_stack.bus(
        lambda b: b.ensure_topic(TOPIC, [SYNC.subscription], duplicate_detection_window=timedelta(hours=1))
    )
    ops_stack.dead_letter({**event("0042"), "id": "evt-dup"})
    ops_stack.fix()
    # the window is on: the same id again is accepted and dropped
    ops_stack.bus(lambda b: b.send(TOPIC, [OutgoingMessage(body=b"{}", message_id="evt-dup")]))

    assert ops_stack.cts("dlq", "replay", "--all", "--yes").exit_code == 0

    [handled] = wait_for(ops_stack.handled, what="the copy")
    assert handled["props"][ORIGINAL_MESSAGE_ID] == "evt-dup"


def test_purge_deletes_with_an_audit_record_per_message(ops_stack: OpsStack) -> None:
    ops_stack.dead_letter(event("0001"), event("0002"), event("0003"))

    result = ops_stack.cts("dlq", "purge", "--store", "0001", "--store", "0003", "--yes", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["done"] == 2
    assert [m["store"] for m in dlq_json(ops_stack)] == ["0002"]
    assert sorted(a["store"] for a in ops_stack.audit()) == ["0001", "0003"]
    assert {a["action"] for a in ops_stack.audit()} == {"purged"}


def test_show_prints_body_properties_and_reason(ops_stack: OpsStack) -> None:
    [dead] = ops_stack.dead_letter(event("0042", **{"x-store": "0042"}))

    human = ops_stack.cts("dlq", "show", str(dead.sequence_number))
    data = json.loads(ops_stack.cts("dlq", "show", str(dead.sequence_number), "--json").stdout)

    assert human.exit_code == 0, human.output
    assert "MaxDeliveryCountExceeded" in human.stdout and '"StoreNumber": "0042"' in human.stdout
    assert "x-store = 0042" in human.stdout
    assert data["description"].startswith("Message could not be consumed after")  # Azure's text
    assert data["application_properties"] == {"x-store": "0042"}
