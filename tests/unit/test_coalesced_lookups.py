"""Concurrent identity look-ups share one call; failures and cancellations reach the right callers
(shared/coalesce.py `Coalesced`; the Graph side is contract-tested against the sandbox)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.coalesce import Coalesced
from shared.domain.teams import Identity
from shared.graph.coalesce import CALL_SIZE


class Directory:
    """What `users.resolve_upns` returns for a set of names: the known ones, keyed as asked."""

    def __init__(self, known: set[str], fail: bool = False) -> None:
        self.known, self.fail = known, fail
        self.calls: list[list[str]] = []

    async def resolve(self, names: list[str]) -> dict[str, Identity]:
        self.calls.append(names)
        await asyncio.sleep(0.001)
        if self.fail:
            raise RuntimeError("Graph is down")
        return {n: Identity(user_id=f"id-{n.lower()}", upn=n) for n in names if n.lower() in self.known}


@settings(max_examples=60, deadline=None)
@given(
    asks=st.lists(
        st.lists(st.sampled_from([f"u{i}@x" for i in range(40)] + ["U1@X", "nobody@x"]), max_size=25),
        max_size=12,
    ),
    size=st.integers(min_value=5, max_value=60),
)
def test_every_caller_gets_exactly_its_known_people_and_calls_stay_within_size(
    asks: list[list[str]], size: int
) -> None:
    directory = Directory({f"u{i}@x" for i in range(40)})

    async def run() -> list[dict[str, Identity]]:
        lookups = Coalesced(directory.resolve, window=0.002, size=size)
        return await asyncio.gather(*(lookups.get(a) for a in asks))

    results = asyncio.run(run())
    for asked, got in zip(asks, results, strict=True):
        assert set(got) == {a for a in asked if a.lower() in directory.known}
    for call in directory.calls:  # a call exceeds the size only when one caller alone asked more
        assert len(call) <= max(size, max(len(set(a)) for a in asks))
    assert sum(len(c) for c in directory.calls) <= sum(len(set(a)) for a in asks)


def test_callers_at_the_same_time_share_one_call() -> None:
    directory = Directory({"a@x", "b@x", "c@x"})

    async def run() -> list[dict[str, Identity]]:
        lookups = Coalesced(directory.resolve, size=CALL_SIZE)
        return await asyncio.gather(
            lookups.get(["a@x"]), lookups.get(["b@x", "a@x"]), lookups.get([])
        )

    first, second, empty = asyncio.run(run())
    assert directory.calls == [["a@x", "b@x"]]
    assert list(first) == ["a@x"] and sorted(second) == ["a@x", "b@x"] and empty == {}


def test_a_failed_call_fails_every_caller_that_shared_it_and_only_those() -> None:
    directory = Directory({"a@x"}, fail=True)

    async def run() -> list[object]:
        lookups = Coalesced(directory.resolve, size=CALL_SIZE)
        shared = await asyncio.gather(
            lookups.get(["a@x"]), lookups.get(["b@x"]), return_exceptions=True
        )
        directory.fail = False
        later = await lookups.get(["a@x"])
        return [*shared, later]

    one, two, later = asyncio.run(run())
    assert isinstance(one, RuntimeError) and isinstance(two, RuntimeError)
    assert later == {"a@x": Identity(user_id="id-a@x", upn="a@x")}


def test_a_cancelled_caller_does_not_take_the_others_with_it() -> None:
    directory = Directory({"a@x", "b@x"})

    async def run() -> dict[str, Identity]:
        lookups = Coalesced(directory.resolve, size=CALL_SIZE, window=0.01)
        doomed = asyncio.ensure_future(lookups.get(["a@x"]))
        kept = asyncio.ensure_future(lookups.get(["b@x"]))
        await asyncio.sleep(0)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return await kept

    assert asyncio.run(run()) == {"b@x": Identity(user_id="id-b@x", upn="b@x")}
