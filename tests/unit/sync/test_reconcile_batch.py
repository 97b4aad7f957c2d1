"""A reconciliation batch: one bulk Commerce read for its stores, each pass given its own slice
once, and a pass that raises set apart for the orchestration to run again on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shared.domain.commerce import CommerceOrg, Store
from shared.domain.teams import TeamKey
from shared.sync import reconcile
from shared.sync.reconcile import AGAIN, reconcile_batch


class Reader:
    """The CommerceReader calls a batch makes (read_scopes once; read_scope for what it lacks)."""

    def __init__(self) -> None:
        self.bulk: list[list[TeamKey]] = []
        self.single: list[TeamKey] = []

    async def read_scopes(self, keys: Sequence[TeamKey]) -> dict[TeamKey, CommerceOrg]:
        self.bulk.append(list(keys))
        return {k: _slice(k.id) for k in keys if k.kind.value == "store"}

    async def read_scope(self, key: TeamKey) -> CommerceOrg:
        self.single.append(key)
        return CommerceOrg(legal_entity="USRT")


def _slice(number: str) -> CommerceOrg:
    return CommerceOrg(
        legal_entity="USRT", stores=(Store(number=number, name=f"Store {number}", legal_entity="USRT"),)
    )


class Ports:
    def __init__(self, commerce: Reader) -> None:
        self.commerce = commerce
        self.settings = self.state = self.gateway = None

    async def execute(self, plan: Any) -> Any:
        raise AssertionError("not reached: the pass is replaced")


async def test_one_bulk_read_each_pass_its_own_slice_once_and_a_raising_pass_set_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = Reader()
    seen: dict[str, CommerceOrg] = {}

    async def fake_pass(ports: Any, key: str, **kw: Any) -> dict[str, Any]:
        parsed = TeamKey.parse(key)
        seen[key] = await ports.commerce.read_scope(parsed)
        if key == "store:0002":
            raise RuntimeError("Graph said 503 three times")
        assert kw["instance_id"] == f"reconcile-1:{key}"
        return {"key": key, "outcome": "changed"}

    monkeypatch.setattr(reconcile, "reconcile_team", fake_pass)
    keys = ["store:0001", "store:0002", "store:0003", "communications:all"]
    results = await reconcile_batch(
        Ports(reader),  # type: ignore[arg-type]
        keys,
        report_id="r-1",
        dry_run=False,
        instance_id="reconcile-1",
    )
    assert reader.bulk == [[TeamKey.parse(k) for k in keys]]
    assert [s.stores[0].number for k, s in seen.items() if k.startswith("store:")] == ["0001", "0002", "0003"]
    assert reader.single == [TeamKey.parse("communications:all")]  # not a store: read as before
    assert [r["outcome"] for r in results] == ["changed", AGAIN, "changed", "changed"]
    assert results[1]["key"] == "store:0002" and "503" in results[1]["error"]


async def test_a_slice_is_given_once_a_second_read_of_the_key_reads_afresh() -> None:
    reader = Reader()
    prefetched = reconcile._Prefetched(reader, {TeamKey.parse("store:0001"): _slice("0001")})  # type: ignore[arg-type]
    first = await prefetched.read_scope(TeamKey.parse("store:0001"))
    again = await prefetched.read_scope(TeamKey.parse("store:0001"))
    assert first.stores and not again.stores
    assert reader.single == [TeamKey.parse("store:0001")]


def test_the_orchestration_and_the_batch_name_the_same_outcome_for_a_pass_to_run_again() -> None:
    from functions.provisioning import AGAIN as ORCHESTRATION_AGAIN

    assert ORCHESTRATION_AGAIN == AGAIN
