"""What the Commerce client does with `$batch` answers the sandbox never gives (it always stops at
the first failure and throttles whole requests): a create throttled inside a batch, a service
that goes on after a failure, answers that cannot be trusted (shared/commerce/batch.py). The
sandbox side is contract-tested in tests/contract/commerce/test_commerce_batch_contract.py."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import uuid
from collections.abc import Callable

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.commerce import batch as batch_module
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


# --- reads: the `or` chains of one look-up in one call (shared/commerce/batch.py `read_pages`) --

WORKERS = "Workers"


def people(count: int) -> list[str]:
    return [f"P{i:07d}" for i in range(count)]


def page(numbers: list[str], link: str | None = None) -> tuple[int, dict[str, str], str]:
    body: dict[str, object] = {"value": [{"PersonnelNumber": n, "Name": n} for n in numbers]}
    if link:
        body["@odata.nextLink"] = link
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


def read_answer(*answers: tuple[int, dict[str, str], str]) -> httpx.Response:
    """One application/http answer per GET part (reads are not in change sets)."""
    body = "".join(f"--b\r\n{http_part(a)}\r\n" for a in answers) + "--b--\r\n"
    return httpx.Response(200, headers={"Content-Type": "multipart/mixed; boundary=b"}, content=body.encode())


def wanted_in(request: httpx.Request) -> list[str]:
    """The personnel numbers an `or` chain asks for, in order."""
    return re.findall(r"PersonnelNumber eq '([^']+)'", request.url.params.get("$filter", ""))


def chains_in(request: httpx.Request) -> list[list[str]]:
    """The personnel numbers each GET part of a `$batch` asks for."""
    targets = re.findall(r"GET (\S+) HTTP/1.1", request.content.decode())
    return [wanted_in(httpx.Request("GET", t)) for t in targets]


async def read(commerce: Commerce, numbers: list[str]) -> list[str]:
    async with commerce.client:
        return [w.personnel_number for w in await commerce.client.workers(numbers)]


async def test_a_read_of_several_chains_is_one_batch_of_gets_with_each_chains_query() -> None:
    numbers = people(100)
    commerce = Commerce(lambda r: read_answer(*(page(c) for c in chains_in(r))))
    assert await read(commerce, numbers) == numbers
    [request] = commerce.requests
    body = request.content.decode()
    assert is_batch(request) and request.method == "POST" and "changeset" not in body
    assert [n for c in chains_in(request) for n in c] == numbers and len(chains_in(request)) == 3
    assert body.count("Prefer: odata.maxpagesize=1000\r\n") == 3
    for target in re.findall(r"GET (\S+) HTTP/1.1", body):  # as a GET alone would send it
        assert target.startswith(f"{BASE}/data/{WORKERS}?") and len(httpx.URL(target).query) <= 2048
        assert "%24select=" in target and "cross-company=true" in target


async def test_a_chain_throttled_or_refused_inside_the_batch_is_read_alone() -> None:
    numbers = people(100)

    def answer(request: httpx.Request) -> httpx.Response:
        if is_batch(request):
            first, _, third = chains_in(request)
            return read_answer(page(first), throttled(3), page(third))
        return httpx.Response(200, json={"value": [{"PersonnelNumber": n} for n in wanted_in(request)]})

    commerce = Commerce(answer)
    assert await read(commerce, numbers) == numbers  # in the chains' order
    assert [is_batch(r) for r in commerce.requests] == [True, False]
    assert wanted_in(commerce.requests[1]) == chains_in(commerce.requests[0])[1]


async def test_a_chain_the_service_never_answered_is_read_alone() -> None:
    numbers = people(100)

    def answer(request: httpx.Request) -> httpx.Response:
        if is_batch(request):
            first, *_ = chains_in(request)
            return read_answer(page(first), duplicate())  # stopped at a failure: nothing for the third
        return httpx.Response(200, json={"value": [{"PersonnelNumber": n} for n in wanted_in(request)]})

    commerce = Commerce(answer)
    assert await read(commerce, numbers) == numbers
    assert [is_batch(r) for r in commerce.requests] == [True, False, False]


async def test_a_chains_next_link_is_followed_with_plain_gets() -> None:
    numbers = people(60)
    link = f"{BASE}/data/{WORKERS}?$skiptoken=2"

    def answer(request: httpx.Request) -> httpx.Response:
        if is_batch(request):
            first, second = chains_in(request)
            return read_answer(page(first[:10], link), page(second))
        assert str(request.url) == link
        first = chains_in(commerce.requests[0])[0]
        return httpx.Response(200, json={"value": [{"PersonnelNumber": n} for n in first[10:]]})

    commerce = Commerce(answer)
    assert await read(commerce, numbers) == numbers
    assert [is_batch(r) for r in commerce.requests] == [True, False]


@pytest.mark.parametrize(
    "answer",
    [
        read_answer(page(["x"])),  # stops without a failure
        httpx.Response(200, headers={"Content-Type": "application/json"}, json={"responses": []}),
        httpx.Response(200, headers={"Content-Type": "multipart/mixed; boundary=b"}, content=b"--b\r\nx"),
    ],
    ids=["stopped without a failure", "not multipart", "cut off"],
)
async def test_an_answer_that_cannot_be_read_is_read_again_one_get_per_chain(answer: httpx.Response) -> None:
    numbers = people(100)

    def handle(request: httpx.Request) -> httpx.Response:
        if is_batch(request):
            return answer
        return httpx.Response(200, json={"value": [{"PersonnelNumber": n} for n in wanted_in(request)]})

    commerce = Commerce(handle)
    assert await read(commerce, numbers) == numbers
    assert [is_batch(r) for r in commerce.requests] == [True, False, False, False]


async def test_a_read_batch_refused_as_a_whole_says_how_to_send_one_get_per_chain() -> None:
    commerce = Commerce(lambda _r: httpx.Response(400, json={"error": {"code": "", "message": "Bad batch."}}))
    with pytest.raises(BadRequest, match="READ_BATCH_SIZE=1"):
        await read(commerce, people(100))


async def test_a_dropped_read_batch_is_sent_again_nothing_was_written() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadError("connection reset", request=request)
        return read_answer(*(page(c) for c in chains_in(request)))

    commerce = Commerce(answer)
    assert await read(commerce, people(100)) == people(100)
    assert [is_batch(r) for r in commerce.requests] == [True, True] and commerce.client.retries == 1


async def test_a_read_batch_size_of_one_sends_one_get_per_chain_and_one_chain_is_one_get() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [{"PersonnelNumber": n} for n in wanted_in(request)]})

    commerce = Commerce(answer, read_batch_size=1)
    assert await read(commerce, people(100)) == people(100)
    assert [(r.method, is_batch(r)) for r in commerce.requests] == [("GET", False)] * 3
    commerce = Commerce(answer)
    assert await read(commerce, people(30)) == people(30)
    assert [(r.method, is_batch(r)) for r in commerce.requests] == [("GET", False)]


async def test_chains_beyond_the_read_batch_size_go_in_further_calls_and_a_last_one_alone_is_a_get() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if is_batch(request):
            return read_answer(*(page(c) for c in chains_in(request)))
        return httpx.Response(200, json={"value": [{"PersonnelNumber": n} for n in wanted_in(request)]})

    commerce = Commerce(answer, read_batch_size=2)
    assert await read(commerce, people(200)) == people(200)
    assert [(is_batch(r), len(chains_in(r)) if is_batch(r) else 1) for r in commerce.requests] == [
        (True, 2),
        (True, 2),
        (False, 1),
    ]


def original_split(body: bytes, boundary: str) -> list[bytes] | str:
    """`_split` as it was before 2026-12-07 (one pattern tried at every byte); the error's text
    where it raised."""
    delimiter = re.compile(
        rb"(?:^|\r?\n)--" + re.escape(boundary.encode("latin-1")) + rb"(--)?[ \t]*(?:\r?\n|$)"
    )
    found = list(delimiter.finditer(body))
    if not found:
        return "no delimiter"
    parts: list[bytes] = []
    for here, following in itertools.pairwise(found):
        if here.group(1):
            break
        parts.append(body[here.end() : following.start()])
    if next((m for m in found if m.group(1)), None) is None:
        return "no close delimiter: the answer was cut off"
    return parts


_PIECES = st.sampled_from([b"--b", b"--b--", b"\r\n", b"\n", b"\r", b" ", b"\t", b"x", b"-", b"b"])
_BREAK = st.sampled_from([b"\r\n", b"\n", b"\r", b"", b" \r\n", b"\t\n"])
# Bodies shaped like answers (delimiter, line break, content, ...), where a line break the
# search takes or leaves shows in the parts; and any sequence of the same pieces.
_SHAPED = st.lists(
    st.tuples(st.sampled_from([b"--b", b"--b--"]), _BREAK, st.lists(_PIECES, max_size=4)), max_size=5
).map(lambda items: b"".join(d + br + b"".join(c) for d, br, c in items))


@settings(max_examples=int(os.environ.get("CTS_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.one_of(_SHAPED, st.lists(_PIECES, max_size=30).map(b"".join)), st.sampled_from(["b", "-"]))
@example(b"--b\r\nx\r\n--b--", "b")
@example(b"\r\n--b\r\nx\r\n--b\ny\n--b--\r\n", "b")
@example(b"--b\r\n--b\r\nx\n--b--", "b")  # the second delimiter's line break was the first's
@example(b"-----\n---\r\n-----", "-")  # a boundary of dashes: delimiters that overlap
def test_split_gives_what_the_single_pattern_split_gave(body: bytes, boundary: str) -> None:
    """The literal delimiter search splits every body as the one pattern it replaced did: the
    same parts, or the same refusal (a boundary of "-" makes delimiters that overlap)."""
    try:
        split: list[bytes] | str = batch_module._split(body, boundary)
    except batch_module.BatchAnswerError as exc:
        split = str(exc)
    assert split == original_split(body, boundary)
