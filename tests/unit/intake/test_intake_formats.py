"""Both real formats become one hint; the activation test message is recognised."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from intake_fixtures import body, doc, raw

from shared.commerce.events import parse_message
from shared.domain.events import CommerceHint, EventFormat, HintScope, Rejection
from shared.domain.events import TestMessage as EndpointTest


def parse(data: bytes) -> CommerceHint:
    result = parse_message(data, content_type="application/json", application_properties={})
    assert isinstance(result, CommerceHint), result
    return result


def test_store_changed_business_event_names_the_store() -> None:
    hint = parse(raw("be_store_changed.json"))
    assert hint.scope is HintScope.STORE
    assert hint.ids == {"store": "0042"}
    assert hint.scope_key == "store:0042"
    assert hint.format is EventFormat.BUSINESS_EVENT
    assert hint.event_type == "CTS_StoreChangedBusinessEvent"
    assert hint.event_id == "5B0E2C9D-6F3A-4E1B-9C7D-2A8F1E4B6C3D"
    assert hint.legal_entity == "USRT"
    assert hint.control_number == 5637151234
    assert hint.event_time == datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
    assert (hint.major_version, hint.minor_version) == (0, 0)


def test_task_changed_business_event_names_list_task_and_store() -> None:
    hint = parse(raw("be_task_changed.json"))
    assert hint.scope is HintScope.TASK
    assert hint.ids == {"task_list": "TL-000017", "task": "3", "store": "0042"}
    assert hint.scope_key == "task:store=0042,task=3,task_list=TL-000017"


def test_higher_minor_version_with_unknown_fields_and_enum_symbols_is_accepted() -> None:
    hint = parse(raw("be_worker_changed_minor_2.json"))
    assert hint.scope is HintScope.WORKER
    assert hint.ids == {"worker": "000123"}
    assert hint.minor_version == 2
    assert hint.legal_entity is None  # worker events are not company-specific


def test_body_with_utf8_bom_is_accepted() -> None:
    assert parse(b"\xef\xbb\xbf" + raw("be_store_changed.json")) == parse(raw("be_store_changed.json"))


def test_iso_time_is_used_when_event_time_is_the_fo_null_date() -> None:
    document = doc("be_store_changed.json") | {"EventTime": "/Date(-2208988800000)/"}
    assert parse(body(document)).event_time == datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
    document["EventTimeIso8601"] = "1900-01-01T00:00:00Z"
    assert parse(body(document)).event_time is None


def test_dotnet_date_with_offset_is_read_as_utc_milliseconds() -> None:
    document = doc("be_store_changed.json") | {"EventTime": "/Date(1721980800000+0200)/"}
    assert parse(body(document)).event_time == datetime(2024, 7, 26, 8, 0, tzinfo=UTC)


def test_data_event_for_virtual_table_names_the_store() -> None:
    hint = parse(raw("de_store_updated_virtual_table.json"))
    assert hint.scope is HintScope.STORE
    assert hint.ids == {"store": "0042"}
    assert hint.format is EventFormat.DATA_EVENT
    assert hint.event_type == "data:RetailStoreEntity:Update"
    assert hint.event_id == "7d5c3b1a-9e8f-4d6c-b5a4-3f2e1d0c9b8a:RetailStoreEntity:Update:0042"
    assert hint.legal_entity == "USRT"
    assert hint.control_number is None
    assert hint.event_time == datetime(2024, 7, 26, 8, 0, tzinfo=UTC)


def test_channel_worker_data_event_names_worker_and_channel() -> None:
    hint = parse(raw("de_channel_worker_created.json"))
    assert hint.scope is HintScope.ASSIGNMENT
    assert hint.ids == {"worker": "000123", "channel": "SEATTLE"}
    assert hint.event_type == "data:RetailChannelWorkerEntity:Create"


def test_delete_takes_the_key_from_the_pre_image() -> None:
    hint = parse(raw("de_worker_deleted_preimage.json"))
    assert hint.scope is HintScope.WORKER
    assert hint.ids == {"worker": "000123"}
    assert hint.event_type == "data:HcmWorkerEntity:Delete"


def test_delete_takes_the_key_from_the_entity_reference_key_attributes() -> None:
    hint = parse(raw("de_store_deleted_key_attributes.json"))
    assert hint.ids == {"store": "0042"}
    assert hint.event_type == "data:RetailStoreEntity:Delete"


def test_update_with_only_changed_columns_finds_the_key_in_the_post_image() -> None:
    document = doc("de_channel_worker_created.json")
    document["MessageName"] = "Update"
    target = document["InputParameters"][0]["value"]
    image = {"Attributes": list(target["Attributes"]), "LogicalName": "RetailChannelWorkerEntity"}
    target["Attributes"] = [{"key": "IsActive", "value": {"Value": 0}}]
    document["PostEntityImages"] = [{"key": "PostImage", "value": image}]
    assert parse(body(document)).ids == {"worker": "000123", "channel": "SEATTLE"}


def test_data_event_without_any_request_id_gets_a_body_derived_id() -> None:
    document = doc("de_store_deleted_key_attributes.json")
    for key in ("CorrelationId", "RequestId"):
        document.pop(key)
    first = parse(body(document))
    assert first.event_id.startswith("sha256-")
    assert parse(body(document)).event_id == first.event_id


@pytest.mark.parametrize("name", ["test_message.json"])
def test_activation_test_message_is_recognised(name: str) -> None:
    result = parse_message(raw(name), content_type=None, application_properties={})
    assert result == EndpointTest(event_id="8D1220EB-E514-4E35-844E-E062DEF0C05D")


def test_activation_test_message_with_full_envelope_and_bom_is_recognised() -> None:
    document = doc("be_store_changed.json") | {
        "BusinessEventId": "BusinessEventsTestEndpointContract",
        "MajorVersion": 0,
        "ControlNumber": 0,
    }
    result = parse_message(b"\xef\xbb\xbf" + body(document))
    assert isinstance(result, EndpointTest)


def test_redelivery_gives_the_same_dedupe_key() -> None:
    for name in (
        "be_store_changed.json",
        "de_store_updated_virtual_table.json",
        "de_worker_deleted_preimage.json",
    ):
        assert parse(raw(name)).dedupe_key == parse(b"\xef\xbb\xbf" + raw(name)).dedupe_key


def test_distinct_events_for_one_scope_share_scope_key_not_dedupe_key() -> None:
    first = parse(raw("be_store_changed.json"))
    second = parse(body(doc("be_store_changed.json") | {"EventId": "another", "ControlNumber": 5637151300}))
    assert first.scope_key == second.scope_key
    assert first.dedupe_key != second.dedupe_key


def test_base64_body_from_a_logic_apps_relay_is_rejected_not_guessed() -> None:
    encoded = base64.b64encode(raw("be_store_changed.json"))
    result = parse_message(encoded)
    assert isinstance(result, Rejection) and result.reason == "base64_body"
    result = parse_message(body(encoded.decode()))  # the same, JSON-quoted
    assert isinstance(result, Rejection) and result.reason == "base64_body"
