"""The catalog is consistent: schemas are valid, validate their own examples, match their specs,
and docs/events.md lists every event, entity and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from intake_fixtures import body
from jsonschema import Draft202012Validator

from shared.commerce.catalog import (
    BUSINESS_EVENTS,
    DATA_ENTITIES,
    BusinessEventSpec,
    RejectReason,
    check,
    data_entity,
    schema_of,
)
from shared.commerce.events import parse_message
from shared.domain.events import CommerceHint

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
SPECS = pytest.mark.parametrize("spec", BUSINESS_EVENTS, ids=lambda s: s.event_id)


@SPECS
def test_schema_is_valid_draft_2020_12(spec: BusinessEventSpec) -> None:
    Draft202012Validator.check_schema(schema_of(spec))


@SPECS
def test_schema_validates_its_own_example(spec: BusinessEventSpec) -> None:
    examples = schema_of(spec)["examples"]
    assert examples
    for example in examples:
        assert check(spec, example) is None


@SPECS
def test_schema_matches_its_spec(spec: BusinessEventSpec) -> None:
    schema = schema_of(spec)
    assert schema["properties"]["BusinessEventId"] == {"const": spec.event_id}
    assert schema["properties"]["MajorVersion"] == {"const": spec.major_version}
    assert {field for _, field in spec.keys} <= set(schema["required"])
    assert spec.event_id.startswith("CTS_") and spec.event_id.endswith("BusinessEvent")


@SPECS
def test_example_parses_into_a_hint_of_the_spec_scope(spec: BusinessEventSpec) -> None:
    example = schema_of(spec)["examples"][0]
    hint = parse_message(body(example))
    assert isinstance(hint, CommerceHint)
    assert hint.scope is spec.scope
    assert hint.ids == {key: example[field] for key, field in spec.keys}


@SPECS
def test_docs_list_every_business_event(spec: BusinessEventSpec) -> None:
    assert f"`{spec.event_id}`" in DOC


def test_docs_list_every_reason_and_entity() -> None:
    for reason in RejectReason:
        assert f"`{reason.value}`" in DOC
    for entity in DATA_ENTITIES:
        assert f"`{entity.entity}`" in DOC


@pytest.mark.parametrize(
    "name", ["RetailStoreEntity", "retailstoreentity", "mserp_retailstoreentity", "MSERP_RetailStoreEntity"]
)
def test_entity_names_match_with_or_without_the_virtual_table_prefix(name: str) -> None:
    found = data_entity(name)
    assert found is not None and found.entity == "RetailStoreEntity"


def test_schema_files_are_plain_json_next_to_the_code() -> None:
    folder = ROOT / "shared" / "commerce" / "catalog" / "schemas"
    names = {p.name for p in folder.glob("*.json")}
    assert names == {"envelope.schema.json", *(s.schema_file for s in BUSINESS_EVENTS)}
    for path in folder.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
