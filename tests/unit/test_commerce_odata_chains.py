"""`or_chains`: the values of a Commerce `query_any` split so that no query string passes IIS's
2,048 characters, and nothing is lost or repeated; `FieldNames.select`: the columns a read names."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.commerce.odata import MAX_OR_TERMS, encoded_length, one_of, or_chains
from shared.commerce.schema import (
    COMPANY_SPECIFIC,
    ENTITY_SETS,
    FIELD_DEFAULTS,
    LEGAL_ENTITY_FIELD,
    FieldNames,
)
from shared.settings import CommerceEntitySets

values = st.lists(st.text(min_size=1, max_size=80), max_size=200)


@given(values, st.integers(min_value=200, max_value=2048), st.integers(min_value=1, max_value=MAX_OR_TERMS))
def test_chains_keep_every_value_once_in_order_within_the_room(
    wanted: list[str], room: int, size: int
) -> None:
    chains = list(or_chains("PersonnelNumber", wanted, room, size))
    assert [v for chain in chains for v in chain] == list(dict.fromkeys(wanted))
    for chain in chains:
        assert 1 <= len(chain) <= size
        # A chain over the room is only ever a value that does not fit even alone.
        assert encoded_length(one_of("PersonnelNumber", chain)) <= room or len(chain) == 1


def test_short_keys_fill_a_chain_and_long_ones_make_shorter_chains() -> None:
    short = [f"{i:06d}" for i in range(100)]
    assert [len(c) for c in or_chains("PersonnelNumber", short, 1800)] == [40, 40, 20]
    long = ["x" * 60 for _ in range(1)] + [f"{'y' * 59}{i}" for i in range(99)]
    chains = list(or_chains("PersonnelNumber", long, 1800))
    assert all(len(c) < 40 for c in chains)
    assert sum(len(c) for c in chains) == 100


def test_a_read_names_the_mapped_columns_and_the_company_only_where_there_is_one() -> None:
    fields = FieldNames({"worker.upn": "Email"})
    assert fields.select("worker")[0] == "PersonnelNumber"
    assert "Email" in fields.select("worker") and "ExternalIdentityAlias" not in fields.select("worker")
    assert LEGAL_ENTITY_FIELD not in fields.select("worker")
    for entity in {key.split(".")[0] for key in FIELD_DEFAULTS}:
        names = fields.select(entity)
        assert len(names) == len(set(names))
        assert (names[0] == LEGAL_ENTITY_FIELD) == (entity in COMPANY_SPECIFIC)


def test_every_entity_the_app_maps_has_one_entity_set_setting_and_each_setting_one_entity() -> None:
    """ENTITY_SETS pairs the field-name prefixes with the CommerceEntitySets settings: a set added
    to the settings without an entity would be read without a `$select` (and vice versa)."""
    assert set(ENTITY_SETS) == {key.split(".")[0] for key in FIELD_DEFAULTS}
    assert sorted(ENTITY_SETS.values()) == sorted(CommerceEntitySets.model_fields)
