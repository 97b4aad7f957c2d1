"""Pacing of team creation (shared/graph/pacing.py): Graph's 10 POST /teams per second per app
per tenant, kept by the app instead of found by 429s."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.graph.pacing import Pacer, Pacing
from shared.graph.retry import RetryingTransport, RetryPolicy

BASE = "https://graph.example.test/v1.0"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@given(
    rate=st.floats(min_value=0.5, max_value=500),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60),
)
def test_paced_requests_leave_one_interval_apart_and_no_later_than_needed(
    rate: float, gaps: list[float]
) -> None:
    clock = Clock()
    pacer = Pacer(rate, burst=1, clock=clock)
    arrived: list[float] = []
    sent: list[float] = []
    for gap in gaps:
        clock.now += gap
        arrived.append(clock.now)
        sent.append(clock.now + pacer.reserve())
    interval = 1 / rate
    assert sent[0] == arrived[0]  # the first one goes at once
    for before, after, came in zip(sent, sent[1:], arrived[1:], strict=False):
        assert after - before >= interval * (1 - 1e-9)  # never closer than the rate allows
        assert after == pytest.approx(max(came, before + interval))  # and never held longer


def test_a_burst_of_team_creations_is_spread_at_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(10, burst=1, clock=clock)
    waits = [pacer.reserve() for _ in range(25)]  # a reconciliation batch's 25 passes at once
    assert waits[0] == 0
    assert waits[-1] == pytest.approx(2.4)  # the 25th goes 2.4 s later, none of them throttled


def test_a_hold_keeps_every_later_request_back_until_it_ends() -> None:
    clock = Clock()
    pacer = Pacer(10, burst=1, clock=clock)
    assert pacer.reserve() == 0
    pacer.hold(3.0)  # Graph answered 429 with Retry-After: 3
    assert pacer.reserve() == pytest.approx(3.0)
    assert pacer.reserve() == pytest.approx(3.2)  # and the pace halved: 5 per second


def test_only_team_creation_is_paced_and_the_rate_is_shared_by_the_worker_processes() -> None:
    pacing = Pacing.of(10, processes=2)
    assert pacing.pacer_for(httpx.Request("POST", f"{BASE}/teams")) is not None
    assert pacing.pacer_for(httpx.Request("POST", "https://graph.example.test/beta/teams/")) is not None
    for method, url in [
        ("GET", f"{BASE}/teams"),
        ("POST", f"{BASE}/teams/t1/channels"),
        ("POST", f"{BASE}/groups"),
    ]:
        assert pacing.pacer_for(httpx.Request(method, url)) is None
    pacer = pacing.pacer_for(httpx.Request("POST", f"{BASE}/teams"))
    assert pacer is not None and pacer.interval == pytest.approx(0.2)  # 5 per second in each process
    assert Pacing.of(0).pacer_for(httpx.Request("POST", f"{BASE}/teams")) is None  # 0: not paced


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (10, 0)])
def test_a_pacer_refuses_a_rate_or_burst_that_paces_nothing(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate > 0 and burst >= 1"):
        Pacer(rate, burst)


async def test_a_429_on_team_creation_holds_the_next_creation_for_its_retry_after() -> None:
    statuses = iter([429, 202, 202])
    sleeps: list[float] = []
    clock = Clock()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        headers = {"Retry-After": "2"} if status == 429 else {}
        return httpx.Response(status, headers=headers, json={})

    pacing = Pacing({"POST /teams": Pacer(10, burst=1, clock=clock)})
    transport = RetryingTransport(httpx.MockTransport(handler), RetryPolicy(), sleep=sleep, pacing=pacing)
    async with httpx.AsyncClient(transport=transport) as http:
        first = await http.post(f"{BASE}/teams", json={})  # 429, waits 2 s, then 202
        assert first.status_code == 202
        assert sleeps[0] == 2.0  # Retry-After
        # The retry itself waited out the hold; a creation right after it waits one interval,
        # at the halved pace (the 202 of the retry won back only a hundredth of the rate).
        second = await http.post(f"{BASE}/teams", json={})
    assert second.status_code == 202
    assert sleeps == pytest.approx([2.0, 0.2])


def test_a_429_halves_the_pace_once_per_hold_and_passes_win_it_back() -> None:
    clock = Clock()
    pacer = Pacer(10, burst=1, clock=clock)
    for _ in range(5):  # five 429s of one burst, answered together
        pacer.hold(1.0)
    assert pacer.interval == pytest.approx(0.2) and pacer.slowed == 1
    clock.now += 1.0
    pacer.hold(1.0)  # a later 429: another halving
    assert pacer.interval == pytest.approx(0.4)
    for _ in range(10 * Pacer.SLOWEST):
        clock.now += 1.0
        pacer.hold(1.0)
    assert pacer.interval == pytest.approx(Pacer.SLOWEST / 10)  # never slower than rate / 16
    for _ in range(Pacer.RECOVERY):
        pacer.passed()
    assert pacer.interval == pytest.approx(0.1)  # the configured rate again, and no faster
    pacer.passed()
    assert pacer.interval == pytest.approx(0.1)


@given(events=st.lists(st.sampled_from(["429", "ok", "tick"]), max_size=300))
def test_the_pace_stays_between_the_configured_rate_and_its_sixteenth(events: list[str]) -> None:
    clock = Clock()
    pacer = Pacer(10, burst=1, clock=clock)
    for event in events:
        if event == "429":
            pacer.hold(1.0)
        elif event == "ok":
            pacer.passed()
        else:
            clock.now += 0.7
        assert 0.1 * (1 - 1e-9) <= pacer.interval <= 1.6 * (1 + 1e-9)


def _simulate(
    processes: int, rate: float, limit: float, adaptive: bool, seconds: float = 120.0
) -> tuple[int, int]:
    """Processes that each pace team creations at `rate` against one tenant bucket of `limit`
    per second (capacity `limit`, as the Graph sandbox's), every process always having one to
    send; a 429 answers Retry-After: 1 (whole seconds, at least 1). (429s, creations made)."""
    now = 0.0
    tokens, refilled = limit, 0.0
    pacers = [Pacer(rate, burst=1, clock=lambda: now) for _ in range(processes)]
    due = [0.0] * processes
    throttled = made = 0
    while True:
        k = min(range(processes), key=lambda i: due[i])
        now = due[k]
        if now >= seconds:
            return throttled, made
        tokens = min(limit, tokens + (now - refilled) * limit)
        refilled = now
        if tokens >= 1:
            tokens -= 1
            made += 1
            if adaptive:
                pacers[k].passed()
            due[k] = now + pacers[k].reserve()
        else:
            throttled += 1
            if adaptive:
                pacers[k].hold(1.0)
            else:
                pacers[k]._next = max(pacers[k]._next, now + 1.0)  # the hold alone, as before
            due[k] = now + 1.0


def test_instances_that_each_pace_at_the_whole_rate_settle_at_their_share() -> None:
    """Four processes (two instances of two) each pacing at the tenant's whole 10 per second:
    with the hold alone each keeps running into 429s; halving on a 429 brings the sum near
    the limit with a fraction of the 429s, and no fewer creations."""
    held_only = _simulate(4, 10.0, 10.0, adaptive=False)
    adaptive = _simulate(4, 10.0, 10.0, adaptive=True)
    assert adaptive[0] * 3 <= held_only[0], (adaptive, held_only)
    assert adaptive[1] >= held_only[1] * 0.95, (adaptive, held_only)
    assert adaptive[1] >= 0.8 * 10.0 * 120, adaptive  # at least 80 % of what the tenant allows
