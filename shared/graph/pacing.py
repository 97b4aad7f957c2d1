"""Pacing: requests of a route with a small published rate limit go no faster than that limit.

Graph allows `POST /teams` 10 requests per second per app per tenant
(https://learn.microsoft.com/graph/throttling-limits, "Microsoft Teams service limits"). A first
provisioning starts a reconciliation batch's 25 passes together, and their team creations would
arrive as one burst: most of it answered 429 with `Retry-After` in whole seconds (at least 1),
so a pass waits a second for a slot that frees in a tenth of one, and "throttled requests count
towards your usage limits" (https://learn.microsoft.com/graph/throttling, best practices). Paced,
the same creations wait their turn in the process instead, 1/rate seconds apart. A 429 on a
paced route still happens (other instances, other apps of the tenant): the retry policy waits
its `Retry-After` as before, and `hold` makes every other request of that route in this process
wait as long, rather than each one running into the same 429.

The rate is per process: the composition root divides the tenant's limit among the instance's
worker processes (FUNCTIONS_WORKER_PROCESS_COUNT); more instances share it through 429s.
The schedule is GCRA ("virtual scheduling"): each request reserves the next slot, so waiters go
in arrival order and nothing is held while sleeping; a lock makes the reservation safe across
the event loops of one process.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

Clock = Callable[[], float]
_VERSION = re.compile(r"/(?:v1\.0|beta)(/.*)$")

TEAM_CREATE = "POST /teams"


class Pacer:
    """At most `burst` requests at once, then one per `1 / rate` seconds (and none during a hold)."""

    def __init__(self, rate: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a pacer needs rate > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.burst = burst
        self._tolerance = (burst - 1) * self.interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next = -math.inf  # the theoretical time of the next request
        self.waited = 0.0  # seconds callers were asked to wait, summed (for the bench and tests)

    def reserve(self) -> float:
        """Take the next slot; the seconds to wait before sending (0: send now)."""
        with self._lock:
            now = self._clock()
            start = max(self._next, now)
            self._next = start + self.interval
            wait = max(0.0, start - self._tolerance - now)
            self.waited += wait
            return wait

    def hold(self, seconds: float) -> None:
        """Graph said wait `seconds` (a 429's Retry-After): no slot starts before then."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds + self._tolerance)


@dataclass(frozen=True)
class Pacing:
    """The pacers by route (`"METHOD /path"` after the API version): only team creation today."""

    pacers: dict[str, Pacer]

    @classmethod
    def of(cls, team_creates_per_second: float, *, processes: int = 1) -> Pacing:
        """Team creation at `team_creates_per_second` shared by `processes` processes (0: none),
        evenly spaced (no burst): Graph publishes a count per second, not how much of it may
        come at once, and the spacing leaves the processes' jitter inside that second."""
        rate = team_creates_per_second / max(1, processes)
        if rate <= 0:
            return cls({})
        return cls({TEAM_CREATE: Pacer(rate, burst=1)})

    def pacer_for(self, request: httpx.Request) -> Pacer | None:
        if not self.pacers:
            return None
        # .../v1.0/teams or .../beta/teams: the route is what follows the version segment.
        found = _VERSION.search(request.url.path.rstrip("/"))
        return self.pacers.get(f"{request.method} {found.group(1)}") if found else None
