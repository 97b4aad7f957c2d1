"""The targeting hierarchy CSV (shared/hierarchy/export.py): columns exactly as Teams documents
them, nodes from the retail reporting hierarchy and the app's teams, and the rules Teams checks
on upload (unique names within 100 characters, parents that exist, a team once, no loops)."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from shared.domain import Region, Store, StoreStatus
from shared.hierarchy import fingerprint, targeting_hierarchy, to_csv
from shared.hierarchy.export import COLUMNS

REGIONS = [Region(id="WEST", name="West"), Region(id="D1", name="Bay Area", parent="WEST")]


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_header_is_exactly_the_three_documented_columns_in_order() -> None:
    text = to_csv(targeting_hierarchy(REGIONS, [], {}))
    assert text.splitlines()[0] == "TargetName,ParentName,TeamId" and COLUMNS == tuple(
        text.splitlines()[0].split(",")
    )


def test_stores_sit_under_their_district_or_region_linked_to_their_team() -> None:
    stores = [
        Store(number="0001", name="Main St", region="WEST", district="D1"),
        Store(number="0002", name="Harbour", region="WEST"),
        Store(number="0003", name="Closed one", region="WEST", status=StoreStatus.CLOSED),
        Store(number="0004", name="No team yet", region="WEST"),
    ]
    teams = {"store:0001": "T1", "store:0002": "T2", "store:0003": "T3", "communications:all": "TC"}
    export = targeting_hierarchy(REGIONS, stores, teams)
    got = {r["TargetName"]: (r["ParentName"], r["TeamId"]) for r in rows_of(to_csv(export))}
    assert got == {
        "Store communications": ("", "TC"),
        "West": ("", ""),
        "Bay Area": ("West", ""),
        "Main St 0001": ("Bay Area", "T1"),
        "Harbour 0002": ("West", "T2"),
    }
    assert export.skipped == ("store 0003: closed", "store 0004: no team")


def test_region_teams_link_their_node_and_a_move_changes_the_fingerprint() -> None:
    stores = [Store(number="0001", name="Main St", region="WEST")]
    regions = [*REGIONS, Region(id="EAST", name="East")]
    before = targeting_hierarchy(regions, stores, {"store:0001": "T1", "region:EAST": "TE"})
    moved = [stores[0].model_copy(update={"region": "EAST"})]
    after = targeting_hierarchy(regions, moved, {"store:0001": "T1", "region:EAST": "TE"})
    assert {r["TargetName"]: r["ParentName"] for r in rows_of(to_csv(after))}["Main St 0001"] == "East"
    assert {r["TargetName"]: r["TeamId"] for r in rows_of(to_csv(after))}["East"] == "TE"
    assert fingerprint(before) != fingerprint(after)
    assert fingerprint(after) == fingerprint(
        targeting_hierarchy(regions, moved, {"store:0001": "T1", "region:EAST": "TE"})
    )


names = st.text(alphabet=st.sampled_from("Ab0 (),é-"), min_size=0, max_size=120)


REGION_IDS = ["R1", "R2", "R3", "R4"]
region_rows = st.tuples(st.sampled_from(REGION_IDS), names, st.sampled_from([None, *REGION_IDS, "RX"]))
store_rows = st.tuples(
    st.sampled_from([f"{i:04d}" for i in range(8)]),
    names,
    st.sampled_from([None, *REGION_IDS]),
    st.booleans(),
)


@given(
    st.lists(region_rows, max_size=4, unique_by=lambda t: t[0]),
    st.lists(store_rows, max_size=8, unique_by=lambda t: t[0]),
)
def test_what_teams_checks_on_upload_always_holds(regions_in, stores_in) -> None:  # type: ignore[no-untyped-def]
    regions = [Region(id=i, name=n, parent=p) for i, n, p in regions_in]
    stores = [Store(number=n, name=name, region=r) for n, name, r, _ in stores_in]
    teams = {f"store:{n}": f"T{n}" for n, _, _, has in stores_in if has} | {"communications:all": "TC"}
    rows = rows_of(to_csv(targeting_hierarchy(regions, stores, teams)))
    names_ = [r["TargetName"] for r in rows]
    assert len({n.casefold() for n in names_}) == len(names_)  # unique
    assert all(
        0 < len(n) <= 100 and all(c.isascii() and (c.isalnum() or c == " ") for c in n) for n in names_
    )
    assert all(r["ParentName"] in names_ for r in rows if r["ParentName"])  # parents exist
    linked = [r["TeamId"] for r in rows if r["TeamId"]]
    assert len(linked) == len(set(linked))  # a team only once
    parent = {r["TargetName"]: r["ParentName"] for r in rows}
    for node in names_:  # no loops
        seen, at = set(), node
        while at:
            assert at not in seen
            seen.add(at)
            at = parent[at]
    assert sum(r["TeamId"].startswith("T0") for r in rows) == len([s for s in stores_in if s[3]])
