"""The pass activity's body: lease, covered request number, the feature's pass."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from shared.spine.feature import BUSY, PassResult
from shared.spine.queue import RequestQueue

R = TypeVar("R", bound=PassResult)


@overload
async def run_pass(
    queue: RequestQueue,
    key: str,
    run: Callable[[str], Awaitable[R]],
    *,
    owner: str | None = None,
    busy: Callable[[str], R],
) -> R: ...


@overload
async def run_pass(
    queue: RequestQueue,
    key: str,
    run: Callable[[str], Awaitable[R]],
    *,
    owner: str | None = None,
    busy: None = None,
) -> R | PassResult: ...


async def run_pass(
    queue: RequestQueue,
    key: str,
    run: Callable[[str], Awaitable[R]],
    *,
    owner: str | None = None,
    busy: Callable[[str], R] | None = None,
) -> R | PassResult:
    """Run the feature's pass for `key` under its lease (if the feature has one). A lease held by
    another pass answers `BUSY` after counting a request, so the holder's orchestration runs once
    more (`busy(key)` makes that result in the feature's own type). The covered request number
    is read before the pass reads anything: a request counted after that point is never marked
    done by this pass."""
    async with queue.lease(key, owner or uuid.uuid4().hex) as held:
        if not held:
            await queue.request(key)
            return busy(key) if busy is not None else PassResult(key=key, outcome=BUSY)
        covered = await queue.seen(key)
        result = await run(key)
    return dataclasses.replace(result, covered=covered)


def activity_result(result: PassResult) -> dict[str, Any]:
    """What the pass activity hands the orchestration: the result, with its summary."""
    return {
        **result.to_json(),
        "outcome": result.outcome,
        "covered": result.covered,
        "summary": result.summary(),
    }
