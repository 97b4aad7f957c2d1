"""OData `$batch` against the Commerce sandbox: the production client's shared mapping creates,
and the sandbox's own strictness (malformed batches refused, parts handled as if sent alone,
processing stopped at the first failing part) -- local/commerce/batch.py, shared/commerce/batch.py."""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path

import httpx
import pytest

from local.commerce.testing import CommerceSandboxHandle, running_commerce_sandbox
from local.scenarios.generate import generate_org
from shared.commerce.batch import WINDOW
from shared.commerce.client import CommerceClient
from shared.commerce.errors import BadRequest, CommerceUnavailable, Forbidden
from shared.domain.commerce import TeamMapping
from shared.settings import CommerceSettings

MAPPINGS = "RetailTeamsSourceTeamMappings"


def client_for(
    handle: CommerceSandboxHandle, *, real_sleep: bool = False, **settings: object
) -> CommerceClient:
    async def no_sleep(_: float) -> None:
        return None

    config = CommerceSettings(
        base_url=handle.base_url, auth="static_token", static_token=handle.token, **settings
    )  # type: ignore[arg-type]
    return CommerceClient(config, sleep=asyncio.sleep if real_sleep else no_sleep)


def mappings(count: int, first: int = 9000) -> list[TeamMapping]:
    return [TeamMapping(source_id=f"{first + i}", team_id=str(uuid.uuid4())) for i in range(count)]


async def rows_in_commerce(handle: CommerceSandboxHandle) -> dict[str, str]:
    async with client_for(handle) as commerce:
        return {m.source_id: m.team_id for m in await commerce.team_mappings(source_type="RetailStore")}


# --- the client ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [100, 10])
async def test_concurrent_mapping_creates_share_batch_calls_and_every_row_is_written(
    sandbox: CommerceSandboxHandle, batch_size: int
) -> None:
    wanted = mappings(25)
    sandbox.reset_counters()
    async with client_for(sandbox, team_mapping_batch_size=batch_size) as commerce:
        await asyncio.gather(*(commerce.create_team_mapping(m) for m in wanted))
    counters = sandbox.counters()
    assert counters.get("POST $batch 200", 0) <= math.ceil(25 / batch_size)
    assert set(counters) == {"POST $batch 200", f"POST {MAPPINGS} 201"}, counters  # no POST of its own
    assert counters[f"POST {MAPPINGS} 201"] == 25  # each part counted as a create
    rows = await rows_in_commerce(sandbox)
    assert {m.source_id: m.team_id for m in wanted}.items() <= rows.items()


async def test_a_lone_create_is_one_plain_post(sandbox: CommerceSandboxHandle) -> None:
    [mapping] = mappings(1)
    sandbox.reset_counters()
    async with client_for(sandbox) as commerce:
        await commerce.create_team_mapping(mapping)
    assert sandbox.counters() == {f"POST {MAPPINGS} 201": 1}
    assert (await rows_in_commerce(sandbox))[mapping.source_id] == mapping.team_id


async def test_a_duplicate_among_concurrent_creates_fails_only_its_own_caller(
    sandbox: CommerceSandboxHandle,
) -> None:
    wanted = mappings(25)
    existing = wanted[7].model_copy(update={"team_id": str(uuid.uuid4())})
    async with client_for(sandbox) as commerce:
        await commerce.create_team_mapping(existing)
        with pytest.raises(BadRequest, match="already exists") as alone:
            await commerce.create_team_mapping(wanted[7])  # unbatched, for comparison
        results = await asyncio.gather(
            *(commerce.create_team_mapping(m) for m in wanted), return_exceptions=True
        )
    failed = [(m, r) for m, r in zip(wanted, results, strict=True) if r is not None]
    assert [m for m, _ in failed] == [wanted[7]]
    error = failed[0][1]
    assert type(error) is type(alone.value) and error.status == 400 and "already exists" in str(error)
    assert MAPPINGS in str(error) and "$batch" not in str(error)  # it names the row's own request
    rows = await rows_in_commerce(sandbox)
    assert rows[existing.source_id] == existing.team_id  # an insert, never an upsert
    assert all(rows[m.source_id] == m.team_id for m in wanted if m is not wanted[7])


async def test_commerce_refusing_the_entity_refuses_every_batched_create_alike(
    sandbox: CommerceSandboxHandle,
) -> None:
    wanted = mappings(5)
    sandbox.set_faults(refuse={"method": "POST", "entity_set": MAPPINGS})
    try:
        async with client_for(sandbox) as commerce:
            results = await asyncio.gather(
                *(commerce.create_team_mapping(m) for m in wanted), return_exceptions=True
            )
    finally:
        sandbox.clear_faults()
    assert all(isinstance(r, Forbidden) and r.status == 403 and "Access denied" in str(r) for r in results)
    assert not {m.source_id for m in wanted} & set(await rows_in_commerce(sandbox))


async def test_a_cancelled_create_is_not_written_and_the_others_are(sandbox: CommerceSandboxHandle) -> None:
    kept, doomed = mappings(4), mappings(1, first=9500)[0]
    async with client_for(sandbox) as commerce:
        tasks = [
            asyncio.ensure_future(commerce.create_team_mapping(m)) for m in [*kept[:2], doomed, *kept[2:]]
        ]
        await asyncio.sleep(0)  # every create is waiting for company
        tasks[2].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 2] == [None] * 4
    rows = await rows_in_commerce(sandbox)
    assert doomed.source_id not in rows and all(rows[m.source_id] == m.team_id for m in kept)


async def test_a_throttled_batch_is_sent_again_and_writes_each_row_once(
    sandbox: CommerceSandboxHandle,
) -> None:
    wanted = mappings(10)
    sandbox.reset_counters()
    # throttled from now until a while after the creates' window closes (shared.commerce.batch.WINDOW)
    sandbox.set_faults(throttle_ratio=1.0, retry_after=0.1, seconds=WINDOW + 0.25)
    try:
        async with client_for(sandbox, real_sleep=True) as commerce:
            await asyncio.gather(*(commerce.create_team_mapping(m) for m in wanted))
    finally:
        sandbox.clear_faults()
    counters = sandbox.counters()
    assert counters.get("POST $batch 429", 0) >= 1 and counters["POST $batch 200"] == 1
    assert counters[f"POST {MAPPINGS} 201"] == 10 and f"POST {MAPPINGS} 400" not in counters
    rows = await rows_in_commerce(sandbox)
    assert all(rows[m.source_id] == m.team_id for m in wanted)


async def test_a_batch_answered_500_is_not_sent_again(sandbox: CommerceSandboxHandle) -> None:
    """A 5xx for a whole batch says nothing about which creates ran: no create is resent blindly;
    each caller gets a transient error (its pass is retried and reads the mapping first)."""
    wanted = mappings(5)
    sandbox.reset_counters()
    sandbox.set_faults(error_ratio=1.0, error_status=500)
    try:
        async with client_for(sandbox) as commerce:
            results = await asyncio.gather(
                *(commerce.create_team_mapping(m) for m in wanted), return_exceptions=True
            )
    finally:
        sandbox.clear_faults()
    assert all(isinstance(r, CommerceUnavailable) and r.transient for r in results)
    assert sandbox.counters() == {"POST $batch 500": 1}


# --- reads: a look-up's `or` chains in one call ------------------------------------------------


async def all_personnel_numbers(handle: CommerceSandboxHandle) -> list[str]:
    async with client_for(handle) as commerce:
        return [w.personnel_number for w in await commerce.workers()]


async def test_a_lookup_of_many_workers_is_one_batch_call_and_reads_what_one_get_per_chain_reads(
    big_sandbox: CommerceSandboxHandle,
) -> None:
    numbers = (await all_personnel_numbers(big_sandbox))[::7]  # ~360: several chains
    found: dict[int, tuple[list[object], dict[str, int]]] = {}
    for size in (50, 1):
        big_sandbox.reset_counters()
        async with client_for(big_sandbox, read_batch_size=size) as commerce:
            workers = await commerce.workers(numbers)
        found[size] = (list(workers), big_sandbox.counters())
    (batched, by_batch), (alone, by_get) = found[50], found[1]
    assert batched == alone and sorted(w.personnel_number for w in batched) == sorted(numbers)  # type: ignore[attr-defined]
    chains = by_get["GET Workers 200"]
    assert chains >= 9 and by_get == {"GET Workers 200": chains}
    assert by_batch == {"POST $batch 200": 1, "GET Workers 200": chains}  # each part counted, $select kept


async def test_a_chain_longer_than_a_page_is_followed_from_its_next_link(tmp_path: Path) -> None:
    org = generate_org(stores=5, workers=200, seed=4)
    with running_commerce_sandbox(tmp_path / "paged.sqlite", org=org, page_size=15) as paged:
        numbers = await all_personnel_numbers(paged)
        paged.reset_counters()
        async with client_for(paged) as commerce:
            workers = await commerce.workers(numbers)
        counters = paged.counters()
    assert len(numbers) == 200 and sorted(w.personnel_number for w in workers) == sorted(numbers)
    # 5 chains of 40 rows in the batch, each a first page of 15 and two more pages alone
    assert counters == {"POST $batch 200": 1, "GET Workers 200": 15}


async def test_a_refused_entity_fails_a_batched_lookup_as_it_fails_a_get(
    sandbox: CommerceSandboxHandle,
) -> None:
    numbers = [f"X{i:06d}" for i in range(100)]  # three chains; none exists
    sandbox.set_faults(refuse={"method": "GET", "entity_set": "Workers"})
    try:
        errors = []
        for size in (50, 1):
            async with client_for(sandbox, read_batch_size=size) as commerce:
                with pytest.raises(Forbidden) as caught:
                    await commerce.workers(numbers)
            errors.append(caught.value)
    finally:
        sandbox.clear_faults()
    batched, alone = errors  # each names the GET of a chain of its own (gather: whichever failed first)
    assert batched.status == alone.status == 403 and batched.method == alone.method == "GET"
    assert str(batched).split(" (GET ")[0] == str(alone).split(" (GET ")[0] and "$batch" not in str(batched)


async def test_a_throttled_read_batch_is_sent_again(big_sandbox: CommerceSandboxHandle) -> None:
    numbers = (await all_personnel_numbers(big_sandbox))[:100]
    big_sandbox.reset_counters()
    big_sandbox.set_faults(throttle_ratio=1.0, retry_after=0.1, seconds=0.2)
    try:
        async with client_for(big_sandbox, real_sleep=True) as commerce:
            workers = await commerce.workers(numbers)
    finally:
        big_sandbox.clear_faults()
    assert sorted(w.personnel_number for w in workers) == sorted(numbers)
    counters = big_sandbox.counters()
    assert counters.get("POST $batch 429", 0) >= 1 and counters["POST $batch 200"] == 1


# --- the sandbox, over raw HTTP ------------------------------------------------------------------


def change_set(
    n: int, body: str, *, target: str = f"{MAPPINGS}?cross-company=true", method: str = "POST"
) -> str:
    return (
        f"--batch\r\nContent-Type: multipart/mixed; boundary=cs{n}\r\n\r\n"
        f"--cs{n}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: {n}\r\n\r\n"
        f"{method} {target} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n--cs{n}--\r\n"
    )


def get_part(target: str) -> str:
    return (
        "--batch\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"GET {target} HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n"
    )


def row(source_id: str, team_id: str = "0b8f3a1e-5c2d-4e6f-8a9b-1c2d3e4f5a6b") -> str:
    return f'{{"SourceType":"RetailStore","SourceId":"{source_id}","TeamId":"{team_id}"}}'


def post_batch(
    handle: CommerceSandboxHandle, body: str | bytes, content_type: str = "multipart/mixed; boundary=batch"
) -> httpx.Response:
    return httpx.post(
        f"{handle.base_url}/data/$batch",
        content=body.encode() if isinstance(body, str) else body,
        headers={"Authorization": f"Bearer {handle.token}", "Content-Type": content_type},
    )


def raw_rows(handle: CommerceSandboxHandle) -> dict[str, str]:
    rows = httpx.get(
        f"{handle.base_url}/data/{MAPPINGS}?cross-company=true",
        headers={"Authorization": f"Bearer {handle.token}"},
    ).json()["value"]
    return {r["SourceId"]: r["TeamId"] for r in rows}


def answers(response: httpx.Response) -> list[tuple[int, str]]:
    """(status, body) of each answer in the batch response, in order."""
    boundary = response.headers["content-type"].split("boundary=")[1]
    out: list[tuple[int, str]] = []
    for part in response.text.split(f"--{boundary}")[1:-1]:
        http = part[part.index("HTTP/1.1 ") :]
        out.append(
            (int(http.split(" ")[1]), http.split("\r\n\r\n", 1)[1].split("\r\n--")[0].removesuffix("\r\n"))
        )
    return out


def test_a_batch_runs_its_parts_in_order_and_stops_at_the_first_failing_one(
    sandbox: CommerceSandboxHandle,
) -> None:
    sandbox.reset_counters()
    body = (
        change_set(1, row("9101")) + change_set(2, row("9101")) + change_set(3, row("9103")) + "--batch--\r\n"
    )
    response = post_batch(sandbox, body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("multipart/mixed")
    [(created, _), (duplicate, error)] = answers(response)  # nothing after the failure
    assert created == 201 and duplicate == 400 and "already exists" in error
    assert sandbox.counters() == {  # each part counted as if sent alone, and the envelope
        "POST $batch 200": 1,
        f"POST {MAPPINGS} 201": 1,
        f"POST {MAPPINGS} 400": 1,
    }
    rows = raw_rows(sandbox)
    assert "9101" in rows and "9103" not in rows


def test_a_part_is_answered_as_the_same_request_alone(sandbox: CommerceSandboxHandle) -> None:
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    for target in ["NoSuchSet", "RetailStores?$filter=Nope%20eq%20'1'", "RetailStores(StoreNumber='0001')"]:
        alone = httpx.get(f"{sandbox.base_url}/data/{target}", headers=headers)
        [(status, body)] = answers(post_batch(sandbox, get_part(target) + "--batch--\r\n"))
        assert (status, body) == (alone.status_code, alone.text), target
    stores = httpx.get(f"{sandbox.base_url}/data/RetailStores?$top=2", headers=headers)
    [(status, body)] = answers(
        post_batch(sandbox, get_part(f"{sandbox.base_url}/data/RetailStores?$top=2") + "--batch--\r\n")
    )
    assert (status, body) == (200, stores.text)


def test_a_batch_needs_the_token(sandbox: CommerceSandboxHandle) -> None:
    response = httpx.post(
        f"{sandbox.base_url}/data/$batch",
        content=(change_set(1, row("9201")) + "--batch--\r\n").encode(),
        headers={"Content-Type": "multipart/mixed; boundary=batch"},
    )
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert "9201" not in raw_rows(sandbox)


VALID = change_set(1, row("9301"))
MALFORMED: dict[str, tuple[str, str, str]] = {
    # name: (Content-Type, body, what the message says)
    "a JSON batch": ("application/json", '{"requests": []}', "not multipart/mixed"),
    "no boundary": ("multipart/mixed", VALID + "--batch--\r\n", "no boundary"),
    "no close delimiter": ("multipart/mixed; boundary=batch", VALID, "CloseBoundaryNotFoundDefect"),
    "a GET in a change set": (
        "multipart/mixed; boundary=batch",
        VALID + change_set(2, "", target="RetailStores", method="GET") + "--batch--\r\n",
        "only data modification requests",
    ),
    "a write outside a change set": (
        "multipart/mixed; boundary=batch",
        VALID
        + "--batch\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        + f"POST {MAPPINGS} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{row('9302')}\r\n--batch--\r\n",
        "outside a change set",
    ),
    "a change set without Content-ID": (
        "multipart/mixed; boundary=batch",
        VALID.replace("Content-ID: 1\r\n", "") + "--batch--\r\n",
        "no Content-ID",
    ),
    "a Content-ID used twice": (
        "multipart/mixed; boundary=batch",
        VALID + change_set(1, row("9302")).replace("cs1", "cs9") + "--batch--\r\n",
        "used twice",
    ),
    "a part that is not application/http": (
        "multipart/mixed; boundary=batch",
        VALID + "--batch\r\nContent-Type: text/plain\r\n\r\nhello\r\n--batch--\r\n",
        "not application/http",
    ),
    "no Content-Transfer-Encoding": (
        "multipart/mixed; boundary=batch",
        VALID.replace("Content-Transfer-Encoding: binary\r\n", "") + "--batch--\r\n",
        "Content-Transfer-Encoding",
    ),
    "a bad request line": (
        "multipart/mixed; boundary=batch",
        VALID.replace(" HTTP/1.1", "") + "--batch--\r\n",
        "not a request line",
    ),
    "a batch in a batch": (
        "multipart/mixed; boundary=batch",
        VALID + get_part("$batch") + "--batch--\r\n",
        "cannot hold a batch",
    ),
    "a URL of another service": (
        "multipart/mixed; boundary=batch",
        VALID + get_part("https://elsewhere.example/data/RetailStores") + "--batch--\r\n",
        "not under this service root",
    ),
    "LF line endings": (
        "multipart/mixed; boundary=batch",
        (VALID + "--batch--\r\n").replace("\r\n", "\n"),
        "CRLF",
    ),
    "more than 5000 operations": (
        "multipart/mixed; boundary=batch",
        VALID + get_part("RetailStores") * 5000 + "--batch--\r\n",
        "up to 5000",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_batch_is_refused_with_400_and_runs_nothing(
    sandbox: CommerceSandboxHandle, case: str
) -> None:
    content_type, body, says = MALFORMED[case]
    sandbox.reset_counters()
    response = post_batch(sandbox, body, content_type)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "" and "malformed" in error["message"] and says in error["message"]
    assert sandbox.counters() == {"POST $batch 400": 1}  # no part ran
    assert "9301" not in raw_rows(sandbox)


def test_a_get_part_is_held_to_the_query_string_limit_of_a_get_alone(sandbox: CommerceSandboxHandle) -> None:
    """IIS sees only the outer URL; F&O publishes no limit for a part: the sandbox holds a part to
    IIS's 2,048 characters, so it is at least as strict as either reading of F&O."""
    long = "Workers?$select=PersonnelNumber&$filter=" + " or ".join(
        f"PersonnelNumber eq 'X{i:06d}'" for i in range(80)
    ).replace(" ", "%20")
    sandbox.reset_counters()
    answer = post_batch(sandbox, get_part(long) + "--batch--\r\n")
    assert answer.status_code == 200
    assert "HTTP/1.1 400 Bad Request" in answer.text and "over 2048 characters" in answer.text
    assert sandbox.counters() == {"POST $batch 200": 1, "GET Workers 400": 1}


def test_a_get_part_without_select_is_counted_as_a_get_alone_is(sandbox: CommerceSandboxHandle) -> None:
    sandbox.reset_counters()
    answer = post_batch(sandbox, get_part("Workers?$top=1") + "--batch--\r\n")
    assert answer.status_code == 200 and "HTTP/1.1 200 OK" in answer.text
    assert sandbox.counters() == {"POST $batch 200": 1, "GET Workers 200": 1, "unselected-read Workers": 1}


async def test_store_slices_read_in_batches_equal_those_read_one_get_per_chain(
    big_sandbox: CommerceSandboxHandle,
) -> None:
    """Every `or`-chain look-up of a reconciliation batch's slices (stores, mappings, hierarchy
    levels, managers, assignments, workers), batched or not, gives the same slices."""
    async with client_for(big_sandbox) as commerce:
        numbers = sorted(s.number for s in await commerce.stores())[:45]
    slices = {}
    for size in (50, 1):
        big_sandbox.reset_counters()
        async with client_for(big_sandbox, read_batch_size=size) as commerce:
            slices[size] = await commerce.store_slices(numbers)
        counters = big_sandbox.counters()
        assert ("POST $batch 200" in counters) is (size > 1)
    assert slices[50] == slices[1] and all(s.stores for s in slices[50].values())
    assert sum(len(s.workers) for s in slices[50].values()) > 45
