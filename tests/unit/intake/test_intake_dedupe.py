"""Duplicates and late events are skipped by EventId and by ControlNumber per scope."""

from __future__ import annotations

from intake_fixtures import body, doc, raw

from shared.commerce.events import DedupeWindow, is_newer, parse_message
from shared.domain.events import CommerceHint


def hint(data: bytes) -> CommerceHint:
    result = parse_message(data)
    assert isinstance(result, CommerceHint)
    return result


def store_event(event_id: str, control_number: int, store: str = "0042") -> CommerceHint:
    document = doc("be_store_changed.json") | {
        "EventId": event_id,
        "ControlNumber": control_number,
        "StoreNumber": store,
    }
    return hint(body(document))


def test_is_newer_only_above_the_last_seen_control_number() -> None:
    assert is_newer(10, 9)
    assert not is_newer(9, 9)
    assert not is_newer(8, 9)
    assert is_newer(None, 9)
    assert is_newer(10, None)
    assert is_newer(None, None)


def test_redelivered_event_is_skipped_after_it_was_handled() -> None:
    window = DedupeWindow()
    first = hint(raw("be_store_changed.json"))
    assert window.should_handle(first)
    window.record(first)
    assert not window.should_handle(hint(b"\xef\xbb\xbf" + raw("be_store_changed.json")))


def test_a_failed_attempt_is_not_remembered() -> None:
    window = DedupeWindow()
    first = store_event("a", 100)
    assert window.should_handle(first)
    assert window.should_handle(first)  # nothing recorded: the retry is handled


def test_older_control_number_for_the_same_store_is_skipped_other_stores_are_not() -> None:
    window = DedupeWindow()
    window.record(store_event("b", 200))
    assert not window.should_handle(store_event("a", 100))
    assert not window.should_handle(store_event("c", 200))
    assert window.should_handle(store_event("d", 201))
    assert window.should_handle(store_event("e", 100, store="0043"))


def test_data_events_without_control_number_are_deduplicated_by_event_id_only() -> None:
    window = DedupeWindow()
    event = hint(raw("de_store_updated_virtual_table.json"))
    window.record(store_event("b", 200))
    assert window.should_handle(event)
    window.record(event)
    assert not window.should_handle(event)


def test_window_is_bounded_and_forgets_least_recent_first() -> None:
    window = DedupeWindow(capacity=2)
    events = [store_event(f"id-{i}", 100 + i, store=f"{i:04d}") for i in range(3)]
    for event in events:
        window.record(event)
    assert window.should_handle(events[0])  # forgotten: one redundant, harmless pass
    assert not window.should_handle(events[2])
