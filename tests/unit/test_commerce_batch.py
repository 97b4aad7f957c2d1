"""What the Commerce client does with `$batch` answers the sandbox never gives (it always stops at
the first failure and throttles whole requests): a create throttled inside a batch, a service
that goes on after a failure, answers that cannot be trusted (shared/commerce/batch.py). The
sandbox side is contract-tested in tests/contract/commerce/test_commerce_batch_contract.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from shared.commerce.client import CommerceClient
from shared.commerce.errors import BadRequest, CommerceUnavailable
from shared.domain.commerce import TeamMapping
from shared.settings import CommerceSettings

BASE = "https://contoso.operations.dynamics.com"
MAPPINGS = "RetailTeamsSourceTeamMappings"
ROW = {"SourceType": "RetailStore", "SourceId": "1", "TeamId": "x"}


def created() -> tuple[int, dict[str, str], str]:
    return 201, {"Content-Type": "application/json"}, json.dumps(ROW)


def duplicate() -> tuple[int, dict[str, str], str]:
    error = {"error": {"code": "", "message": "Cannot create a record. The record already exists."}}
    return 400, {"Content-Type": "application/json"}, json.dumps(error)


def throttled(seconds: int) -> tuple[int, dict[str, str], str]:
    error = {"error": {"code": "", "message": "Too many requests."}}
    return 429, {"Content-Type": "application/json", "Retry-After": str(seconds)}, json.dumps(error)


def http_part(answer: tuple[int, dict[str, str], str], content_id: int | None = None) -> str:
    status, headers, body = answer
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"{head}\r\nHTTP/1.1 {status} Whatever\r\n{lines}\r\n{body}"


def batch_answer(*answers: tuple[int, dict[str, str], str], close: bool = True) -> httpx.Response:
    """One answer per change set, as OData 4.0 writes them: a change set that ran is a multipart of
    its request's answer; one that failed is a single application/http answer."""
    chunks = []
    for n, answer in enumerate(answers, start=1):
        if answer[0] < 400:
            inner = f"Content-Type: multipart/mixed; boundary=cs{n}\r\n\r\n--cs{n}\r\n{http_part(answer, n)}"
            chunks.append(inner + f"\r\n--cs{n}--")
        else:
            chunks.append(http_part(answer))
    body = "".join(f"--b\r\n{c}\r\n" for c in chunks) + ("--b--\r\n" if close else "")
    return httpx.Response(200, headers={"Content-Type": "multipart/mixed; boundary=b"}, content=body.encode())


class Commerce:
    """A fake F&O: `answer(request)` answers every HTTP call, which is kept."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response], **settings: object) -> None:
        self.requests: list[httpx.Request] = []
        self.slept: list[float] = []

        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return answer(request)

        async def sleep(seconds: float) -> None:
            self.slept.append(seconds)

        config = CommerceSettings(base_url=BASE, auth="static_token", static_token="t", **settings)  # type: ignore[arg-type]
        self.client = CommerceClient(config, transport=httpx.MockTransport(handle), sleep=sleep)

    async def create_all(self, count: int) -> list[BaseException | None]:
        mappings = [TeamMapping(source_id=str(1000 + i), team_id=str(uuid.uuid4())) for i in range(count)]
        async with self.client:
            return await asyncio.gather(
                *(self.client.create_team_mapping(m) for m in mappings), return_exceptions=True
            )


def is_batch(request: httpx.Request) -> bool:
    return request.url.path.endswith("/$batch")


async def test_a_create_throttled_inside_a_batch_goes_again_after_its_retry_after() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if is_batch(request):
            return batch_answer(created(), throttled(7))
        return httpx.Response(201, json=ROW)  # the throttled one, alone this time

    commerce = Commerce(answer)
    assert await commerce.create_all(2) == [None, None]
    assert [is_batch(r) for r in commerce.requests] == [True, False]
    assert commerce.slept == [7.0] and commerce.client.retries == 1


async def test_a_service_that_goes_on_after_a_failure_answers_each_create_in_one_call() -> None:
    commerce = Commerce(lambda _r: batch_answer(created(), duplicate(), created()))
    first, second, third = await commerce.create_all(3)
    assert first is None and third is None
    assert isinstance(second, BadRequest) and "already exists" in str(second) and MAPPINGS in str(second)
    assert len(commerce.requests) == 1


async def test_creates_after_the_failure_the_service_stopped_at_go_again() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if is_batch(request) and len([r for r in commerce.requests if is_batch(r)]) == 1:
            return batch_answer(created(), duplicate())  # stopped: nothing for the third
        return httpx.Response(201, json=ROW)

    commerce = Commerce(answer)
    first, second, third = await commerce.create_all(3)
    assert first is None and isinstance(second, BadRequest) and third is None
    assert [is_batch(r) for r in commerce.requests] == [True, False]
    assert commerce.client.retries == 0  # it never ran: not a repeat


@pytest.mark.parametrize(
    "answer",
    [
        batch_answer(created(), created(), close=False),  # cut off
        batch_answer(created()),  # stops without a failure
        httpx.Response(200, headers={"Content-Type": "application/json"}, json={"responses": []}),
    ],
    ids=["cut off", "stopped without a failure", "not multipart"],
)
async def test_an_answer_that_cannot_be_trusted_fails_every_caller_and_is_not_sent_again(
    answer: httpx.Response,
) -> None:
    commerce = Commerce(lambda _r: answer)
    results = await commerce.create_all(2)
    assert all(isinstance(r, CommerceUnavailable) and r.transient for r in results), results
    assert len(commerce.requests) == 1


async def test_a_batch_refused_as_a_whole_says_how_to_send_one_post_per_row() -> None:
    commerce = Commerce(lambda _r: httpx.Response(400, json={"error": {"code": "", "message": "Bad batch."}}))
    results = await commerce.create_all(2)
    assert all(isinstance(r, BadRequest) and "TEAM_MAPPING_BATCH_SIZE=1" in str(r) for r in results)


async def test_a_batch_size_of_one_sends_one_post_per_row() -> None:
    commerce = Commerce(lambda _r: httpx.Response(201, json=ROW), team_mapping_batch_size=1)
    assert await commerce.create_all(3) == [None] * 3
    assert [(r.method, r.url.path) for r in commerce.requests] == [("POST", f"/data/{MAPPINGS}")] * 3


async def test_each_create_is_a_change_set_of_its_own_with_the_absolute_url() -> None:
    commerce = Commerce(lambda _r: batch_answer(created(), created()))
    await commerce.create_all(2)
    [request] = commerce.requests
    body = request.content.decode()
    assert request.headers["Content-Type"].startswith("multipart/mixed; boundary=batch_")
    assert body.count("Content-Type: multipart/mixed; boundary=changeset_") == 2
    assert body.count(f"POST {BASE}/data/{MAPPINGS}?cross-company=true HTTP/1.1\r\n") == 2
    assert "Content-ID: 1\r\n" in body and "Content-ID: 2\r\n" in body
