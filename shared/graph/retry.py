"""Retry policy for every Graph request, as an httpx transport under kiota's middleware.

kiota's default RetryHandler (3 retries, 3 s delay, only 429/503/504) is left out of the chain
(see client.py) and this transport applies one policy to all requests, SDK or raw:

- 429, 503 and 504 wait for `Retry-After` when Graph sends it, else back off exponentially;
  https://learn.microsoft.com/graph/throttling ("wait the number of seconds specified").
- 500/502 and dropped connections are retried only for requests that are safe to repeat (see
  `is_repeatable`): never a second POST /teams or POST /planner/tasks.
- Bounded by `max_retries` and by `max_total_wait` seconds of sleeping; then the last response
  goes up and errors.py turns it into Throttled / ServerError.
- A route with a small published limit (team creation) is paced before each attempt
  (`pacing.py`), and a 429 on it holds the route for its `Retry-After` in this process.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from shared.graph.errors import NotFound, parse_retry_after
from shared.graph.pacing import Pacing
from shared.telemetry.http import graph_response

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

THROTTLE_STATUSES = frozenset({429, 503, 504})
SERVER_STATUSES = frozenset({500, 502})
# POST actions that may be repeated without creating a second object.
_REPEATABLE_POST_SUFFIXES = (
    "/members/add",
    "/members/remove",
    "/archive",
    "/unarchive",
    "/$batch",
    "/reauthorize",
    "/getbyids",
)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    max_total_wait: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for attempt 1, 2, ... (AWS architecture blog's variant)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(cap / 2, cap)


@dataclass
class RetryStats:
    """What the transport did: requests sent (including retries), retries, seconds slept."""

    sent: int = 0
    retries: int = 0
    slept: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)


def is_repeatable(request: httpx.Request) -> bool:
    """Whether repeating the request after an ambiguous failure cannot create a duplicate."""
    if request.method in ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"):
        return True
    return request.method == "POST" and request.url.path.endswith(_REPEATABLE_POST_SUFFIXES)


class RetryingTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport and applies `RetryPolicy` to each request."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self._inner = inner
        self.policy = policy
        self.stats = RetryStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.pacing = pacing or Pacing({})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        waited = 0.0
        attempt = 0
        pacer = self.pacing.pacer_for(request)
        while True:
            if pacer is not None and (turn := pacer.reserve()) > 0:
                await self._sleep(turn)
            attempt += 1
            self.stats.sent += 1
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.TransportError as exc:
                # ConnectError: nothing reached the server, always safe; later errors are ambiguous.
                if not (isinstance(exc, httpx.ConnectError) or is_repeatable(request)):
                    raise
                delay = self._within_budget(self.policy.backoff(attempt, self._rng), attempt, waited)
                if delay is None:
                    raise
            else:
                self.stats.by_status[response.status_code] = (
                    self.stats.by_status.get(response.status_code, 0) + 1
                )
                graph_response(request, response.status_code)  # requests and 429s by route
                delay = self._delay_after_response(request, response, attempt, waited)
                if pacer is not None and response.status_code == 429:
                    pacer.hold(parse_retry_after(response.headers.get("Retry-After")) or 1.0)
                elif pacer is not None and response.status_code < 400:
                    pacer.passed()
                if delay is None:
                    return response
                await response.aread()
                await response.aclose()
            self.stats.retries += 1
            self.stats.slept += delay
            waited += delay
            await self._sleep(delay)

    def _delay_after_response(
        self, request: httpx.Request, response: httpx.Response, attempt: int, waited: float
    ) -> float | None:
        status = response.status_code
        if status in THROTTLE_STATUSES:
            delay = parse_retry_after(response.headers.get("Retry-After"))
            if delay is None:
                delay = self.policy.backoff(attempt, self._rng)
        elif status in SERVER_STATUSES and is_repeatable(request):
            delay = self.policy.backoff(attempt, self._rng)
        else:
            return None
        return self._within_budget(delay, attempt, waited)

    def _within_budget(self, delay: float, attempt: int, waited: float) -> float | None:
        if attempt > self.policy.max_retries or waited + delay > self.policy.max_total_wait:
            return None
        return delay

    async def aclose(self) -> None:
        await self._inner.aclose()


async def retry_not_found(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    delay: float = 2.0,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Retry a call that may 404 because a just-created object has not replicated yet.

    Graph: "If the group was created less than 15 minutes ago, ... retry ... three times, with a
    10 second delay" (https://learn.microsoft.com/graph/api/team-post, example 4); members and
    channels of a new team can lag the same way. Only for calls on objects known to exist.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except NotFound:
            if attempt == attempts:
                raise
            await sleep(delay)
    raise AssertionError("unreachable")
