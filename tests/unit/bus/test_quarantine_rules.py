"""The quarantine's pure rules (shared/bus/quarantine.py): the copy, its id, the reason a copy is
dead-lettered with, and where a replay of a quarantine letter goes."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.bus.protocol import TARGET_SUBSCRIPTION_PROPERTY, EntityRef, PropertyValue, ReceivedMessage
from shared.bus.quarantine import (
    MAX_DESCRIPTION_LENGTH,
    MAX_REASON_LENGTH,
    QUARANTINE_QUEUE,
    UNKNOWN_REASON,
    Rejected,
    quarantine_copy,
    quarantine_id,
    quarantined_reason,
    verdict,
)
from shared.bus.replay import (
    ORIGINAL_DLQ_REASON,
    ORIGINAL_MESSAGE_ID,
    QUARANTINE_PROPERTIES,
    REPLAY_COUNT,
    SOURCE_ENTITY,
    handler_entity,
    replay_copy,
    replay_target,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SUB = EntityRef("commerce-events", "teams-sync")
QUEUE = EntityRef(QUARANTINE_QUEUE)

names = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=20)
values: st.SearchStrategy[PropertyValue] = st.one_of(st.text(max_size=30), st.integers(), st.booleans())
properties = st.dictionaries(names, values, max_size=6)


def rejected(**kwargs: object) -> Rejected:
    base: dict[str, object] = {
        "body": b"not json",
        "source": SUB,
        "reason": "not_json",
        "description": "the body is not JSON",
        "message_id": "m1",
        "sequence_number": 42,
        "enqueued_time": T0,
        "delivery_count": 1,
        "content_type": "application/json",
    }
    base.update(kwargs)
    return Rejected(**base)  # type: ignore[arg-type]


def as_dead_letter(copy_props: dict[str, PropertyValue], reason: str | None = "not_json") -> ReceivedMessage:
    return ReceivedMessage(
        body=b"not json",
        message_id="q-1",
        sequence_number=7,
        enqueued_time=T0,
        delivery_count=1,
        entity=QUEUE,
        dead_lettered=True,
        dead_letter_reason=reason,
        dead_letter_error_description="the body is not JSON",
        application_properties=copy_props,
    )


@given(seq=st.integers(0, 2**63 - 1), message_id=st.text(max_size=200))
def test_the_copy_id_is_one_per_message_and_entity_and_fits_service_bus(seq: int, message_id: str) -> None:
    one = quarantine_id(SUB, seq, message_id)
    assert one == quarantine_id(
        EntityRef("Commerce-Events", "Teams-Sync"), seq, "another id"
    )  # paths ignore case
    assert one != quarantine_id(SUB, seq + 1, message_id)
    assert one != quarantine_id(EntityRef("dataverse-events", "teams-records"), seq, message_id)
    assert len(one) <= 128 and one.isascii()  # Service Bus: MessageId up to 128 characters


@given(props=properties)
def test_the_copy_keeps_the_message_and_records_why_and_where(props: dict[str, PropertyValue]) -> None:
    copy = quarantine_copy(rejected(application_properties=props))
    assert copy.body == b"not json" and copy.content_type == "application/json"
    got = copy.application_properties
    assert {k: got[k] for k in props if k not in QUARANTINE_PROPERTIES and k != ORIGINAL_MESSAGE_ID} == {
        k: v for k, v in props.items() if k not in QUARANTINE_PROPERTIES and k != ORIGINAL_MESSAGE_ID
    }
    assert got["cts-dead-letter-reason"] == "not_json"
    assert got["cts-dead-letter-description"] == "the body is not JSON"
    assert got[SOURCE_ENTITY] == SUB.path
    assert got["cts-source-sequence-number"] == 42 and got["cts-source-delivery-count"] == 1
    assert got["cts-source-enqueued-time"] == T0.isoformat()
    assert copy.message_id == quarantine_id(SUB, 42, "m1")


def test_a_replayed_message_keeps_its_first_original_id() -> None:
    copy = quarantine_copy(
        rejected(message_id="replay-copy", application_properties={ORIGINAL_MESSAGE_ID: "first"})
    )
    assert copy.application_properties[ORIGINAL_MESSAGE_ID] == "first"
    assert quarantine_copy(rejected(message_id=None)).application_properties.get(ORIGINAL_MESSAGE_ID) is None


def test_stale_quarantine_properties_are_replaced_not_kept() -> None:
    stale = {"cts-dead-letter-reason": "old", SOURCE_ENTITY: "elsewhere", "cts-source-delivery-count": 9}
    got = quarantine_copy(rejected(application_properties=stale)).application_properties
    assert (got["cts-dead-letter-reason"], got[SOURCE_ENTITY], got["cts-source-delivery-count"]) == (
        "not_json",
        SUB.path,
        1,
    )


@given(reason=st.text(min_size=1, max_size=500), description=st.text(max_size=3000))
def test_a_copy_is_dead_lettered_with_its_own_reason_bounded(reason: str, description: str) -> None:
    copy = quarantine_copy(rejected(reason=reason, description=description))
    got_reason, got_description = verdict(as_dead_letter(copy.application_properties))
    assert got_reason == reason[:MAX_REASON_LENGTH]
    assert got_description == description[:MAX_DESCRIPTION_LENGTH]


def test_a_message_without_the_apps_reason_still_leaves_the_queue() -> None:
    assert verdict(as_dead_letter({})) == (UNKNOWN_REASON, "")
    assert quarantined_reason(as_dead_letter({})) is None


@given(props=properties)
def test_a_quarantine_letter_replays_to_its_source_subscription_without_the_quarantines_marks(
    props: dict[str, PropertyValue],
) -> None:
    letter = as_dead_letter(quarantine_copy(rejected(application_properties=props)).application_properties)
    assert handler_entity(letter) == SUB
    copy = replay_copy(letter, now=T0)
    assert replay_target(handler_entity(letter))[0] == "commerce-events"
    got = copy.application_properties
    assert got[TARGET_SUBSCRIPTION_PROPERTY] == "teams-sync"
    assert not set(got) & set(QUARANTINE_PROPERTIES)
    assert got[ORIGINAL_MESSAGE_ID] == "m1" and got[ORIGINAL_DLQ_REASON] == "not_json"
    assert got[REPLAY_COUNT] == 1


def test_a_letter_without_a_usable_source_replays_to_its_own_entity() -> None:
    assert handler_entity(as_dead_letter({})) == QUEUE
    assert handler_entity(as_dead_letter({SOURCE_ENTITY: "a/b/c/d"})) == QUEUE
    assert handler_entity(as_dead_letter({SOURCE_ENTITY: "graph-notifications"})) == EntityRef(
        "graph-notifications"
    )
