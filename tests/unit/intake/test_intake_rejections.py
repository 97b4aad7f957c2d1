"""Bad input is rejected with a precise, stable reason code and an actionable description."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from intake_fixtures import body, doc, raw

from shared.commerce.catalog import RejectReason
from shared.commerce.events import MAX_BODY_BYTES, parse_message
from shared.domain.events import Rejection

STORE = "be_store_changed.json"
DATA = "de_store_updated_virtual_table.json"


def edited(name: str, edit: Callable[[dict[str, Any]], object]) -> bytes:
    document = doc(name)
    edit(document)
    return body(document)


def target(document: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = document["InputParameters"][0]["value"]
    return value


CASES: list[tuple[str, bytes, str, str]] = [
    ("empty", b"", "empty_body", ""),
    ("whitespace", b" \r\n\t", "empty_body", ""),
    ("bom only", b"\xef\xbb\xbf", "empty_body", ""),
    ("oversize", b"{" + b" " * MAX_BODY_BYTES + b"}", "oversize", str(MAX_BODY_BYTES)),
    ("latin-1", '{"BusinessEventId":"Café"}'.encode("latin-1"), "not_utf8", "offset"),
    ("utf-16", '{"a":1}'.encode("utf-16"), "not_utf8", "UTF-16"),
    ("xml", b"<BusinessEvent/>", "not_json", "line 1"),
    ("base64", base64.b64encode(raw(STORE)), "base64_body", "base64ToString"),
    ("truncated", raw(STORE)[:-20], "not_json", "line"),
    ("deep nesting", b"[" * 100_000, "not_json", ""),
    ("array", b"[" + raw(STORE) + b"]", "not_an_object", "array"),
    ("number", b"42", "not_an_object", "number"),
    ("other system", b'{"type": "order.created", "id": 1}', "unknown_format", "BusinessEventId"),
    (
        "foreign event",
        edited(STORE, lambda d: d.update(BusinessEventId="SalesInvoicePostedBusinessEvent")),
        "unknown_business_event",
        "Activate only the CTS_* business events",
    ),
    (
        "blank event id",
        edited(STORE, lambda d: d.update(BusinessEventId=" ")),
        "invalid_field",
        "BusinessEventId",
    ),
    (
        "major 1",
        edited(STORE, lambda d: d.update(MajorVersion=1)),
        "unsupported_major_version",
        "supported: 0",
    ),
    ("major missing", edited(STORE, lambda d: d.pop("MajorVersion")), "missing_field", "MajorVersion"),
    ("major text", edited(STORE, lambda d: d.update(MajorVersion="0")), "invalid_field", "MajorVersion"),
    ("no store number", edited(STORE, lambda d: d.pop("StoreNumber")), "missing_field", "StoreNumber"),
    ("no event id", edited(STORE, lambda d: d.pop("EventId")), "missing_field", "EventId"),
    ("no control number", edited(STORE, lambda d: d.pop("ControlNumber")), "missing_field", "ControlNumber"),
    (
        "control number text",
        edited(STORE, lambda d: d.update(ControlNumber="5637151234")),
        "invalid_field",
        "ControlNumber: "[:-2],
    ),
    (
        "store number recid",
        edited(STORE, lambda d: d.update(StoreNumber=5637144576)),
        "invalid_field",
        "a JSON string",
    ),
    (
        "blank store number",
        edited(STORE, lambda d: d.update(StoreNumber="   ")),
        "invalid_field",
        "not blank",
    ),
    (
        "no legal entity",
        edited(STORE, lambda d: d.update(BusinessEventLegalEntity="")),
        "legal_entity_missing",
        "Activate the event for the legal entities",
    ),
    ("bad event time", edited(STORE, lambda d: d.update(EventTime="2024-07-26 08:00")), "bad_event_time", ""),
    (
        "event time overflow",
        edited(STORE, lambda d: d.update(EventTime="/Date(99999999999999999)/")),
        "bad_event_time",
        "",
    ),
    (
        "assign message",
        edited(DATA, lambda d: d.update(MessageName="Assign")),
        "unsupported_message_name",
        "",
    ),
    ("message not text", edited(DATA, lambda d: d.update(MessageName=1)), "invalid_field", "MessageName"),
    (
        "other entity",
        edited(DATA, lambda d: d.update(PrimaryEntityName="mserp_custcustomerv3entity")),
        "unsupported_entity",
        "Deactivate",
    ),
    ("no entity", edited(DATA, lambda d: d.pop("PrimaryEntityName")), "missing_field", "PrimaryEntityName"),
    ("no target", edited(DATA, lambda d: d.update(InputParameters=[])), "missing_field", "Target"),
    (
        "parameters not list",
        edited(DATA, lambda d: d.update(InputParameters={"Target": {}})),
        "invalid_field",
        "InputParameters",
    ),
    (
        "no store key",
        edited(DATA, lambda d: target(d).update(Attributes=[{"key": "mserp_name", "value": "x"}])),
        "missing_key",
        "StoreNumber",
    ),
    (
        "store key not text",
        edited(
            DATA,
            lambda d: target(d).update(Attributes=[{"key": "mserp_storenumber", "value": {"Value": 42}}]),
        ),
        "invalid_field",
        "StoreNumber",
    ),
    (
        "store number with a slash",
        edited(STORE, lambda d: d.update(StoreNumber="00/42")),
        "invalid_id",
        "StoreNumber",
    ),
    (
        "fractional control number",
        edited(STORE, lambda d: d.update(ControlNumber=1.5e30)),
        "bad_control_number",
        "ControlNumber",
    ),
    (
        "bad operation time",
        edited(DATA, lambda d: d.update(OperationCreatedOn="yesterday")),
        "bad_event_time",
        "",
    ),
]


@pytest.mark.parametrize(("data", "reason", "mentions"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_with_its_reason(data: bytes, reason: str, mentions: str) -> None:
    result = parse_message(data, content_type="application/json", application_properties={})
    assert isinstance(result, Rejection), result
    assert result.reason == reason
    assert mentions in result.description


def test_cases_cover_every_reason_code() -> None:
    # other_legal_entity needs the served entities: tests/unit/hardening/test_ids_at_the_edges.py
    assert {c[2] for c in CASES} | {"other_legal_entity"} == {r.value for r in RejectReason}


def test_rejection_carries_the_event_id_when_there_is_one() -> None:
    result = parse_message(edited(STORE, lambda d: d.update(MajorVersion=7)))
    assert isinstance(result, Rejection)
    assert result.event_id == "5B0E2C9D-6F3A-4E1B-9C7D-2A8F1E4B6C3D"


@pytest.mark.parametrize("field", ["StoreNumber", "ChangeKind"])
def test_descriptions_never_echo_field_values(field: str) -> None:
    secret = "PersonalValue-" + "x" * 80
    for bad in (secret * 2, [secret], {"v": secret}):
        result = parse_message(edited(STORE, lambda d, bad=bad: d.update({field: bad})))
        assert isinstance(result, Rejection)
        assert "PersonalValue" not in result.description
        assert result.reason == "invalid_field"


def test_every_description_says_what_to_do_and_fits_a_dead_letter_description() -> None:
    for _, data, _, _ in CASES:
        result = parse_message(data)
        assert isinstance(result, Rejection)
        assert len(result.description) <= 4096
        assert json.dumps(result.description)  # plain text, serialisable
        assert any(
            word in result.description
            for word in (
                "Activate",
                "Deactivate",
                "Fix",
                "Publish",
                "Check",
                "Send",
                "Include",
                "Deploy",
                "Make",
                "Nothing to do",
            )
        ), result
