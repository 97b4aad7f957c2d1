"""Identity resolution with the team record's cache (shared/sync/team_pass.resolve_identities)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from shared.domain.commerce import CommerceOrg, Worker
from shared.domain.teams import Identity
from shared.state import CachedIdentity
from shared.sync.team_pass import resolve_identities

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(hours=6)


class Directory:
    """Entra as `resolve_upns` sees it; records which UPNs were asked for."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users, self.asked = users, []  # type: ignore[var-annotated]

    async def resolve_upns(self, upns: Iterable[str]) -> dict[str, Identity]:
        wanted = list(upns)
        self.asked += wanted
        return {u: Identity(user_id=self.users[u], upn=u) for u in wanted if u in self.users}


def org(*upns: str | None) -> CommerceOrg:
    workers = tuple(Worker(personnel_number=f"{i:06d}", name=f"W{i}", upn=u) for i, u in enumerate(upns))
    return CommerceOrg(workers=workers)


async def test_fresh_entries_answer_stale_and_missing_ones_are_looked_up() -> None:
    entra = Directory({"a@x": "id-a", "b@x": "id-b2", "c@x": "id-c"})
    cache = {
        "a@x": CachedIdentity(user_id="id-a", at=NOW - timedelta(hours=1)),
        "b@x": CachedIdentity(user_id="id-b1", at=NOW - timedelta(hours=7)),  # too old
    }
    found = await resolve_identities(org("A@x", "b@x", "c@x"), entra, cache, MAX_AGE, NOW)
    assert sorted(entra.asked) == ["b@x", "c@x"]
    assert {p: i.user_id for p, i in found.items()} == {"000000": "id-a", "000001": "id-b2", "000002": "id-c"}
    assert cache["b@x"] == CachedIdentity(user_id="id-b2", at=NOW) and cache["c@x"].at == NOW
    assert cache["a@x"].at == NOW - timedelta(hours=1)  # a hit is not refreshed (no write)


async def test_people_who_left_and_upns_entra_no_longer_knows_drop_out_of_the_cache() -> None:
    entra = Directory({"a@x": "id-a"})
    cache = {
        "gone@x": CachedIdentity(user_id="id-g", at=NOW),
        "lost@x": CachedIdentity(user_id="id-l", at=NOW - timedelta(days=1)),
    }
    found = await resolve_identities(org("a@x", "lost@x", None), entra, cache, MAX_AGE, NOW)
    assert set(cache) == {"a@x"} and set(found) == {"000000"}
    assert sorted(entra.asked) == ["a@x", "lost@x"]  # unknown UPNs are asked again each time


async def test_a_zero_max_age_looks_everyone_up() -> None:
    entra = Directory({"a@x": "id-a"})
    cache = {"a@x": CachedIdentity(user_id="id-a", at=NOW)}
    await resolve_identities(org("a@x"), entra, cache, timedelta(0), NOW)
    assert entra.asked == ["a@x"]
