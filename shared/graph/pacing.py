"""Pacing: requests of a route with a small published rate limit go no faster than that limit.

Graph allows `POST /teams` 10 requests per second per app per tenant
(https://learn.microsoft.com/graph/throttling-limits, "Microsoft Teams service limits"). A first
provisioning starts a reconciliation batch's 25 passes together, and their team creations would
arrive as one burst: most of it answered 429 with `Retry-After` in whole seconds (at least 1),
so a pass waits a second for a slot that frees in a tenth of one, and "throttled requests count
towards your usage limits" (https://learn.microsoft.com/graph/throttling, best practices). Paced,
the same creations wait their turn in the process instead, 1/rate seconds apart. A 429 on a
paced route still happens (other instances, other apps of the tenant): the retry policy waits
its `Retry-After` as before, `hold` makes every other request of that route in this process
wait as long, rather than each one running into the same 429, and halves this process's pace,
which requests that go through win back step by step (`Pacer`).

The rate is per process: the composition root divides the tenant's limit among the instance's
worker processes (FUNCTIONS_WORKER_PROCESS_COUNT); more instances share it through 429s, which
slow each of them to about its share (`Pacer`; simulated in tests/unit/test_graph_pacing.py: four
processes each at the whole rate draw 4-5x fewer 429s than with the hold alone, for as many
creations. The bench's `graph_floor_parallel` with CTS_BENCH_FLOOR_UNSHARED=1 runs the case on the
sandbox, but its two CPU-bound clients seldom reach the limit there: 0 to 277 429s run to run).
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
    """At most `burst` requests at once, then one per `interval` seconds (and none during a hold).

    The interval adapts to 429s (additive increase, multiplicative decrease, as TCP's congestion
    window): a 429 doubles it (once per hold, so a burst of 429s answered together counts once;
    at most `SLOWEST` times the configured interval), and each request that went through gives
    back `1 / RECOVERY` of the configured rate, up to that rate. Processes that do not share a
    pacer -- other instances of the app when it scales out -- each start at the rate their own
    instance may use, and the 429s that the sum draws bring each one down to about its share
    instead of every process meeting a 429 (and its whole-second Retry-After) again and again."""

    SLOWEST = 16  # the interval grows to at most 16 x the configured one
    RECOVERY = 100  # requests through at the configured rate regain it from nothing

    def __init__(self, rate: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a pacer needs rate > 0 and burst >= 1")
        self.rate = rate  # the configured rate, the fastest this pacer goes
        self.interval = 1.0 / rate  # the current one
        self.burst = burst
        self._tolerance = (burst - 1) / rate
        self._clock = clock
        self._lock = threading.Lock()
        self._next = -math.inf  # the theoretical time of the next request
        self._held_until = -math.inf
        self.waited = 0.0  # seconds callers were asked to wait, summed (for the bench and tests)
        self.slowed = 0  # times a 429 doubled the interval

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
        """Graph said wait `seconds` (a 429's Retry-After): no slot starts before then, and the
        pace halves (unless a hold is already running: the 429s of one burst count once)."""
        with self._lock:
            now = self._clock()
            if now >= self._held_until:
                self.interval = min(self.interval * 2, self.SLOWEST / self.rate)
                self.slowed += 1
            self._held_until = max(self._held_until, now + seconds)
            self._next = max(self._next, now + seconds + self._tolerance)

    def passed(self) -> None:
        """A paced request went through: the pace creeps back towards the configured rate."""
        with self._lock:
            if self.interval * self.rate > 1.0:
                self.interval = max(1.0 / self.rate, 1.0 / (1.0 / self.interval + self.rate / self.RECOVERY))


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
