"""Small asyncio helpers shared by the host's loops."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
    """Wait up to `timeout` seconds for `event`; True if it was set.

    Not `asyncio.wait_for(event.wait(), timeout)`: on Python 3.11, `wait_for` returns normally
    when it is cancelled at the moment the inner wait completes, swallowing the cancellation
    (CPython gh-86296, fixed in 3.12). A loop that waits that way can survive `task.cancel()`
    and hang whoever awaits the task. `asyncio.timeout` does not have the problem.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
