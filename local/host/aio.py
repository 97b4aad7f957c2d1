"""Small asyncio helpers shared by the host's loops."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any


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


async def call_function(func: Callable[..., Any], kwargs: Mapping[str, Any], executor: Executor) -> Any:
    """Call a function of the app as the Python worker does: a coroutine function on the event
    loop, any other in the thread pool with the caller's context variables (the invocation's
    function name and id follow into the thread)."""
    if inspect.iscoroutinefunction(func):
        return await func(**kwargs)
    call = functools.partial(contextvars.copy_context().run, func, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor, call)
