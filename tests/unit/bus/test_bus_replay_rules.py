"""The pure replay rules: filters, the replay copy, the refusal rule, entity paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.bus.protocol import TARGET_SUBSCRIPTION_PROPERTY, EntityRef, PropertyValue, ReceivedMessage
from shared.bus.replay import (
    ORIGINAL_DLQ_DESCRIPTION,
    ORIGINAL_DLQ_REASON,
    ORIGINAL_MESSAGE_ID,
    REPLAY_COUNT,
    REPLAYED_AT,
    DeadLetterFilter,
    decide,
    event_type_of,
    replay_copy,
    replay_count,
    replay_target,
    store_of,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SUB = EntityRef("commerce-events", "teams-sync")


def dead(
    body: bytes = b"{}",
    *,
    seq: int = 1,
    reason: str | None = "Boom",
    at: datetime = T0,
    props: dict[str, PropertyValue] | None = None,
    **kwargs: object,
) -> ReceivedMessage:
    return ReceivedMessage(
        body=body,
        message_id=f"m{seq}",
        sequence_number=seq,
        enqueued_time=at,
        delivery_count=3,
        entity=SUB,
        dead_lettered=True,
        dead_letter_reason=reason,
        dead_letter_error_description="it broke",
        application_properties=props or {},
        **kwargs,
    )  # type: ignore[arg-type]


def test_event_type_comes_from_a_property_or_the_business_event_body() -> None:
    assert event_type_of(dead(props={"BusinessEventId": "RetailStoreChanged"})) == "RetailStoreChanged"
    assert event_type_of(dead(b'{"BusinessEventId": "RetailWorkerChanged"}')) == "RetailWorkerChanged"
    assert event_type_of(dead(b"not json")) is None
    assert event_type_of(dead(b"[1, 2]")) is None


def test_store_comes_from_a_property_or_the_body() -> None:
    assert store_of(dead(props={"x-store": "0042"})) == "0042"
    assert store_of(dead(b'{"StoreNumber": "0043"}')) == "0043"
    assert store_of(dead(b'{"OperatingUnitNumber": 44}')) == "44"
    assert store_of(dead()) is None


def test_each_criterion_of_a_filter_selects_exactly_its_messages() -> None:
    a = dead(seq=1, reason="InvalidJson", at=T0, props={"BusinessEventId": "E1", "x-store": "0042"})
    b = dead(seq=2, reason="Transient", at=T0 + timedelta(hours=1), props={"BusinessEventId": "E2"})
    c = dead(seq=3, reason=None, at=T0 + timedelta(hours=2), body=b'{"StoreNumber":"0042"}')
    everything = [a, b, c]

    def pick(f: DeadLetterFilter) -> list[int]:
        return [m.sequence_number for m in everything if f.matches(m)]

    assert pick(DeadLetterFilter()) == [1, 2, 3]
    assert pick(DeadLetterFilter(reasons=frozenset({"Transient"}))) == [2]
    assert pick(DeadLetterFilter(event_types=frozenset({"E1", "E2"}))) == [1, 2]
    assert pick(DeadLetterFilter(stores=frozenset({"0042"}))) == [1, 3]
    assert pick(DeadLetterFilter(enqueued_after=T0 + timedelta(hours=1))) == [2, 3]  # inclusive
    assert pick(DeadLetterFilter(enqueued_before=T0 + timedelta(hours=1))) == [1]  # exclusive
    assert pick(DeadLetterFilter(enqueued_after=datetime(2026, 3, 1, 12, 30))) == [2, 3]  # naive = UTC
    assert pick(DeadLetterFilter(sequence_numbers=frozenset({3}))) == [3]
    assert pick(DeadLetterFilter(reasons=frozenset({"InvalidJson"}), stores=frozenset({"0042"}))) == [1]


@given(
    reasons=st.none() | st.frozensets(st.sampled_from(["A", "B", "C"])),
    reason=st.sampled_from(["A", "B", "C"]),
    offset=st.integers(-1000, 1000),
    after=st.none() | st.integers(-1000, 1000),
    before=st.none() | st.integers(-1000, 1000),
)
def test_a_filter_is_the_conjunction_of_its_criteria(
    reasons: frozenset[str] | None, reason: str, offset: int, after: int | None, before: int | None
) -> None:
    m = dead(reason=reason, at=T0 + timedelta(seconds=offset))
    f = DeadLetterFilter(
        reasons=reasons,
        enqueued_after=None if after is None else T0 + timedelta(seconds=after),
        enqueued_before=None if before is None else T0 + timedelta(seconds=before),
    )
    expected = (
        (reasons is None or reason in reasons)
        and (after is None or offset >= after)
        and (before is None or offset < before)
    )
    assert f.matches(m) == expected


def test_a_replay_copy_has_a_new_id_and_carries_where_it_came_from() -> None:
    m = dead(
        props={"BusinessEventId": "E1"},
        session_id="s",
        correlation_id="c",
        subject="subj",
        to="t",
        reply_to="r",
        partition_key="s",
        content_type="application/json",
        time_to_live=timedelta(days=1),
    )
    copy = replay_copy(m, now=T0)
    assert copy.message_id and copy.message_id != m.message_id
    assert copy.application_properties == {
        "BusinessEventId": "E1",
        TARGET_SUBSCRIPTION_PROPERTY: "teams-sync",
        ORIGINAL_MESSAGE_ID: "m1",
        REPLAY_COUNT: 1,
        REPLAYED_AT: T0.isoformat(),
        ORIGINAL_DLQ_REASON: "Boom",
        ORIGINAL_DLQ_DESCRIPTION: "it broke",
    }
    assert (
        copy.body,
        copy.session_id,
        copy.correlation_id,
        copy.subject,
        copy.to,
        copy.reply_to,
        copy.partition_key,
        copy.content_type,
        copy.time_to_live,
    ) == (b"{}", "s", "c", "subj", "t", "r", "s", "application/json", timedelta(days=1))
    assert copy.scheduled_enqueue_time is None


def test_a_second_replay_keeps_the_first_original_id_and_counts_on() -> None:
    m = dead(
        props={ORIGINAL_MESSAGE_ID: "first", REPLAY_COUNT: 1, TARGET_SUBSCRIPTION_PROPERTY: "teams-sync"}
    )
    copy = replay_copy(m, now=T0)
    assert copy.application_properties[ORIGINAL_MESSAGE_ID] == "first"
    assert copy.application_properties[REPLAY_COUNT] == 2


def test_replay_count_tolerates_text_and_garbage() -> None:
    assert replay_count(dead(props={REPLAY_COUNT: "2"})) == 2
    assert replay_count(dead(props={REPLAY_COUNT: "x"})) == 0
    assert replay_count(dead()) == 0


@pytest.mark.parametrize(
    ("count", "limit", "refused"), [(0, 3, False), (2, 3, False), (3, 3, True), (5, 3, True), (0, 0, True)]
)
def test_messages_replayed_max_replays_times_are_refused(count: int, limit: int, refused: bool) -> None:
    assert (decide(dead(props={REPLAY_COUNT: count}), max_replays=limit) is not None) == refused


def test_the_replay_target_of_a_subscription_is_its_topic_with_the_targeting_property() -> None:
    assert replay_target(SUB) == ("commerce-events", {TARGET_SUBSCRIPTION_PROPERTY: "teams-sync"})
    assert replay_target(EntityRef("q")) == ("q", {})


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("q", EntityRef("q")),
        ("t/s", EntityRef("t", "s")),
        ("t/Subscriptions/s", EntityRef("t", "s")),
        ("/t/subscriptions/s/", EntityRef("t", "s")),
    ],
)
def test_entity_paths_parse(text: str, ref: EntityRef) -> None:
    assert EntityRef.parse(text) == ref


def test_a_bad_entity_path_says_what_to_write() -> None:
    with pytest.raises(ValueError, match="topic/subscription"):
        EntityRef.parse("a/b/c")
    assert SUB.path == "commerce-events/Subscriptions/teams-sync"


def test_the_azure_targeting_rule_accepts_untargeted_messages_and_its_own() -> None:
    from shared.bus import targeting_sql_filter

    assert targeting_sql_filter("teams-sync") == (
        "NOT EXISTS([x-target-subscription]) OR [x-target-subscription] = 'teams-sync'"
    )
    assert targeting_sql_filter("o'brien").endswith("= 'o''brien'")
