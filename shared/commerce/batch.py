"""OData `$batch` calls to F&O: creates made at about the same time on one client share them
(`CreatePipe`), and so do the `or`-chain GETs of one look-up (`read_pages`).

A reconciliation batch runs 25 team passes at once, and each that made a team writes its store's
mapping row: alone, 25 POSTs; through `CreatePipe`, one `POST {base}/data/$batch` of 25 creates
(the callers of a `WINDOW` share a call, at most `size` creates per call: shared/coalesce.py).
A create that finds no company goes as the plain POST it always was.

What F&O documents, and what it does not:
- "Batch requests are supported in the OData service", with a link to the OData 4.0 protocol's
  batch section (https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/odata#batch-requests
  -> https://docs.oasis-open.org/odata/odata/v4.0/errata02/os/complete/part1-protocol/odata-v4.0-errata02-os-part1-protocol-complete.html#_Toc406398359).
  OData 4.0 batches are multipart/mixed (JSON batches are OData 4.01, which F&O does not
  document), so that is what is sent: each create in a change set of its own, an application/http
  part with `Content-Transfer-Encoding: binary`, a Content-ID and the absolute URL of the entity
  set (the form the .NET OData client writes; absolute URLs are valid OData 4.0 batch targets).
- Change sets are atomic: "either all the requests are run successfully or, if any request fails,
  none of the requests are run successfully" (same page, "Run multiple requests in a single
  transaction"). One create per change set: a failing create undoes no other.
- "A batch can contain up to 5000 operations"
  (https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/service-protection-api-limits);
  `commerce.team_mapping_batch_size` (default 100) stays below it.
- OData 4.0 §11.7 / §8.2.8.3: answers come in request order, one per change set (a failed change
  set's is a single application/http response); without `Prefer: odata.continue-on-error` the
  service stops at the first failing request and answers nothing after it. The preference is sent,
  but whether F&O honours it is unconfirmed, so both behaviours are handled.

Reads (`read_pages`): "one of these values" is an `or` chain per ~40 values (F&O has no `in`;
each query string within IIS's 2,048 characters, shared/commerce/odata.py), so a reconciliation
batch's ~500 workers are 13 GETs. They go as the GET requests of one `$batch` (OData 4.0 §11.7:
a batch holds query requests outside change sets, each "evaluated according to the same
semantics used when the request appears outside the context of a batch"), at most
`commerce.read_batch_size` (50) a call. Each part keeps the query string it would have had alone
(within 2,048 characters, though IIS sees only the outer URL: what F&O's batch reader allows in a
part is unpublished, so nothing is asked of it that a lone GET could not send) and its own
`Prefer: odata.maxpagesize`; a part's `@odata.nextLink` is followed with plain GETs. Nothing is
written, so the call is repeated after a dropped connection, a 429 or a 5xx like a GET; a part
answered with anything but 200, or not answered (the service stopped at an earlier failure), is
read again alone, through the transport's policy, so its caller gets exactly what a lone GET
would have given it: the rows, or the same typed error.

Safety (an OData create is an insert, not idempotent; shared/commerce/transport.py's guarantee):
- The `$batch` POST goes through the transport: after a dropped connection it is not sent again
  (POST is not repeatable), and it is repeated only after a 429 (throttled before anything ran).
  A 5xx, or an answer that cannot be read, may follow creates that were applied: every caller
  gets `CommerceUnavailable` (transient), so its pass is retried and re-reads the mapping first.
- A create answered 429 or 5xx inside the batch was rolled back with its change set, and a create
  the service never answered (it stopped at an earlier failure) was never run: those, only those,
  go again, with the transport's limits and backoff.
- Every other answer is the caller's own, turned into the same typed error an unbatched create
  would raise (`error_from_response`): a row that exists already is a `BadRequest`, never an upsert.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from shared.coalesce import Coalesced
from shared.commerce.errors import CommerceError, CommerceUnavailable, error_from_response
from shared.commerce.transport import RETRY_STATUSES, ODataTransport, Sleep

BATCH_URL = "$batch"
MAX_OPERATIONS = 5000  # F&O's documented most per batch (see above)
# A create the service did not answer goes again; each call answers at least one create, so this
# is never reached unless the service answers nothing for ever.
_MAX_UNANSWERED = 1000
_NOT_RUN = frozenset({429})  # an outer status after which nothing in the batch ran
WINDOW = 0.25
"""How long a create waits for company. Team creation is paced (shared/graph/pacing.py), so the
passes of a reconciliation batch reach their write-backs tens of milliseconds apart, not
together: with the 5 ms of the Graph look-ups, 1,000 write-backs went as ~270 calls of about 3
creates and ~200 lone POSTs. A write-back ends a pass that took seconds; a quarter of a second
more is not felt, and one call then carries a batch's creates."""


class BatchAnswerError(Exception):
    """The `$batch` answer is not a multipart/mixed answer to the request that was sent."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes


@dataclass(frozen=True)
class _Create:
    url: str  # relative to the client's base URL, as an unbatched create sends it
    params: dict[str, str]
    body: dict[str, Any]
    absolute: httpx.URL


class CreatePipe:
    """OData creates of concurrent callers on one client, sent together in `$batch` calls."""

    def __init__(
        self, transport: ODataTransport, http: httpx.AsyncClient, *, size: int, sleep: Sleep
    ) -> None:
        if not 1 <= size <= MAX_OPERATIONS:
            raise ValueError(f"a $batch holds 1 to {MAX_OPERATIONS} creates, not {size}")
        self._transport, self._http, self._sleep = transport, http, sleep
        self._waiting: dict[str, _Create] = {}
        self._sent = 0
        self._coalesced: Coalesced[httpx.Response] = Coalesced(self._call, size=size, window=WINDOW)

    async def create(self, url: str, params: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        """POST `body` to the entity set `url`: the 2xx answer, or the typed error of this create's
        own answer (as an unbatched create would raise it)."""
        create = _Create(url, params, body, self._http.build_request("POST", url, params=params).url)
        attempt, waited, unanswered = 0, 0.0, 0
        while True:
            self._sent += 1
            key = str(self._sent)
            self._waiting[key] = create
            try:
                got = await self._coalesced.get([key])
            finally:
                self._waiting.pop(key, None)  # a cancelled caller's create is not sent
            response = got.get(key)
            if response is None:  # the service stopped at an earlier failure: this one never ran
                unanswered += 1
                if unanswered > _MAX_UNANSWERED:
                    raise CommerceUnavailable(
                        f"Commerce answered no $batch call for this create ({unanswered} calls)",
                        method="POST",
                        url=str(create.absolute),
                    )
                continue
            if response.is_success:
                return response
            error = error_from_response(response)
            if response.status_code not in RETRY_STATUSES:
                raise error
            attempt += 1  # rolled back with its change set: safe to send again
            delay = getattr(error, "retry_after", None) or self._transport.backoff(attempt)
            if not self._transport.may_wait(attempt, waited, delay):
                raise error
            self._transport.retries += 1
            waited += delay
            await self._sleep(delay)

    async def _call(self, keys: list[str]) -> dict[str, httpx.Response]:
        creates = [(k, self._waiting[k]) for k in keys if k in self._waiting]
        if not creates:
            return {}
        if len(creates) == 1:  # alone: the plain POST, with the transport's policy for it
            key, create = creates[0]
            return {
                key: await self._transport.send("POST", create.url, params=create.params, json=create.body)
            }
        boundary = f"batch_{uuid.uuid4()}"
        try:
            response = await self._transport.send(
                "POST",
                BATCH_URL,
                content=encode([c for _, c in creates], boundary),
                headers={
                    "Content-Type": f"multipart/mixed; boundary={boundary}",
                    "Accept": "multipart/mixed",
                    "Prefer": "odata.continue-on-error",
                },
                retry_statuses=_NOT_RUN,
            )
        except CommerceError as exc:
            raise _refused(exc, "CTS_COMMERCE__TEAM_MAPPING_BATCH_SIZE=1 sends one POST per row") from None
        try:
            answers = decode(response.headers.get("content-type", ""), response.content, len(creates))
        except BatchAnswerError as exc:
            raise CommerceUnavailable(
                f"the $batch answer could not be read ({exc}); its creates may have been applied",
                status=response.status_code,
                method="POST",
                url=str(response.request.url),
            ) from None
        return {
            key: httpx.Response(
                a.status,
                headers=list(a.headers),
                content=a.content,
                request=httpx.Request("POST", create.absolute),
            )
            for (key, create), a in zip(creates, answers, strict=True)
            if a is not None
        }


async def read_pages(
    transport: ODataTransport, base_url: str, urls: Sequence[str], *, page_size: int
) -> list[dict[str, Any] | None]:
    """The first page of each GET in `urls` (relative to the service root `base_url`, with their
    query strings encoded), from one `$batch` call: the page's JSON (its `value` a list) per URL,
    for `ODataTransport.rows(first=...)` to read the rest, or None for a URL whose part was not
    answered 200 (its caller reads it again alone). Raises the transport's typed error when the
    call itself fails (after its retries)."""
    boundary = f"batch_{uuid.uuid4()}"
    try:
        response = await transport.send(
            "POST",
            BATCH_URL,
            content=encode_reads([base_url + u for u in urls], boundary, page_size),
            headers={"Content-Type": f"multipart/mixed; boundary={boundary}", "Accept": "multipart/mixed"},
            repeatable=True,  # GETs alone: nothing was written, whatever happened to the call
        )
    except CommerceError as exc:
        raise _refused(exc, "CTS_COMMERCE__READ_BATCH_SIZE=1 sends one GET per chain") from None
    try:
        answers = decode(response.headers.get("content-type", ""), response.content, len(urls))
    except BatchAnswerError:
        return [None] * len(urls)  # read alone, each: nothing was written
    out: list[dict[str, Any] | None] = []
    for answer in answers:
        page = None
        if answer is not None and answer.status == 200:
            try:
                page = json.loads(answer.content)
            except ValueError:
                page = None
        out.append(page if isinstance(page, dict) and isinstance(page.get("value"), list) else None)
    return out


def _refused(exc: CommerceError, instead: str) -> CommerceError:
    """A `$batch` call refused as a whole (a 4xx other than auth and throttling) says what to do
    `instead`."""
    if exc.status is None or not 400 <= exc.status < 500 or exc.status in (401, 403, 429):
        return exc
    return type(exc)(
        f"{exc.message} [the $batch call was refused; {instead}]",
        status=exc.status,
        code=exc.code,
        inner_message=exc.inner_message,
        method=exc.method,
        url=exc.url,
    )


# --- the multipart/mixed format (RFC 2046, OData 4.0 §11.7) -----------------------------------

_HTTP_PART = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"  # a request's part


def encode(creates: Sequence[_Create], boundary: str) -> bytes:
    """Each create in a change set of its own, Content-ID = its position (1, 2, ...)."""
    out: list[bytes] = []
    for n, create in enumerate(creates, start=1):
        change_set = f"changeset_{uuid.uuid4()}"
        body = json.dumps(create.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        out.append(
            (
                f"--{boundary}\r\n"
                f"Content-Type: multipart/mixed; boundary={change_set}\r\n"
                "\r\n"
                f"--{change_set}\r\n"
                f"{_HTTP_PART}"
                f"Content-ID: {n}\r\n"
                "\r\n"
                f"POST {create.absolute} HTTP/1.1\r\n"
                "Content-Type: application/json\r\n"
                "Accept: application/json;odata.metadata=minimal\r\n"
                "\r\n"
            ).encode()
            + body
            + f"\r\n--{change_set}--\r\n".encode()
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def encode_reads(urls: Sequence[str], boundary: str, page_size: int) -> bytes:
    """Each GET an application/http part of its own, outside any change set."""
    head = f"{_HTTP_PART}\r\n"
    tail = (
        " HTTP/1.1\r\n"
        "Accept: application/json;odata.metadata=minimal\r\n"
        f"Prefer: odata.maxpagesize={page_size}\r\n"
        "\r\n"
    )
    parts = [f"--{boundary}\r\n{head}GET {url}{tail}\r\n" for url in urls]
    return ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8")


def decode(content_type: str, body: bytes, count: int) -> list[Answer | None]:
    """The answer to each of `count` items (a create's change set, or a GET part), in order; None
    for those after the service stopped at a failure. Raises BatchAnswerError when the answer
    does not fit the request."""
    parts = _split(body, _boundary(content_type))
    if not parts or len(parts) > count:
        raise BatchAnswerError(f"{len(parts)} answers to {count} change sets")
    answers: list[Answer] = []
    for n, raw in enumerate(parts, start=1):
        headers, content = _headers_and_body(raw)
        kind = headers.get("content-type", "").lower()
        if kind.startswith("multipart/mixed"):  # a change set that ran: its one request's answer
            inner = _split(content, _boundary(headers["content-type"]))
            if len(inner) != 1:
                raise BatchAnswerError(f"change set {n} has {len(inner)} answers to 1 request")
            inner_headers, content = _headers_and_body(inner[0])
            kind = inner_headers.get("content-type", "").lower()
            content_id = inner_headers.get("content-id", str(n)).strip()
            if content_id != str(n):
                raise BatchAnswerError(f"change set {n} is answered with Content-ID {content_id}")
        if not kind.startswith("application/http"):
            raise BatchAnswerError(f"answer {n} is {kind or 'untyped'}, not application/http")
        answers.append(_http_response(content, n))
    if len(answers) < count and answers[-1].status < 400:  # stopping is only allowed at a failure
        raise BatchAnswerError(f"{len(answers)} answers to {count} change sets, the last one no failure")
    return [*answers, *[None] * (count - len(answers))]


def _boundary(content_type: str) -> str:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/mixed":
        raise BatchAnswerError(f"Content-Type {content_type or '(none)'} is not multipart/mixed")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"')
    raise BatchAnswerError(f"Content-Type {content_type} has no boundary")


def _delimiters(body: bytes, boundary: str) -> list[tuple[int, int, bool]]:
    """(start, end, is the close delimiter) of each delimiter line in `body`, in order: what the
    pattern `(?:^|\r?\n)--boundary(--)?[ \t]*(?:\r?\n|$)` finds (the line break before a delimiter
    belongs to it, RFC 2046 §5.1.1), as a literal search for `--boundary` and a look at the bytes
    around each. Every answer has a boundary of its own, so a compiled pattern was never reused:
    compiling two per answer was a third of the CPU of reading a batch of creates' answer.
    tests/unit/test_commerce_batch.py holds it to the pattern it replaced."""
    dash = b"--" + boundary.encode("latin-1")
    found: list[tuple[int, int, bool]] = []
    after = 0  # the pattern's matches do not overlap: the next starts where the last ended
    at = body.find(dash)
    while at != -1:
        if at == 0:
            start = 0
        elif body[at - 1] == 0x0A:  # "\n", or "\r\n"
            start = at - 2 if at >= 2 and body[at - 2] == 0x0D else at - 1
        else:
            start = -1
        if start >= after:
            i = at + len(dash)
            close = body.startswith(b"--", i)
            i += 2 if close else 0
            while i < len(body) and body[i] in b" \t":
                i += 1
            if i == len(body):
                end = i
            elif body[i] == 0x0A:
                end = i + 1
            elif body.startswith(b"\r\n", i):
                end = i + 2
            else:
                end = -1
            if end != -1:
                found.append((start, end, close))
                after = end
        at = body.find(dash, at + 1)
    return found


def _split(body: bytes, boundary: str) -> list[bytes]:
    """The body parts between the delimiters; the close delimiter must be there (a cut-off answer
    says nothing about what ran)."""
    found = _delimiters(body, boundary)
    if not found:
        raise BatchAnswerError("no delimiter")
    parts: list[bytes] = []
    for (_, end, close), (following, _, _) in itertools.pairwise(found):
        if close:
            break
        parts.append(body[end:following])
    if not any(close for *_, close in found):
        raise BatchAnswerError("no close delimiter: the answer was cut off")
    return parts


_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _head_and_body(raw: bytes) -> tuple[list[str], bytes]:
    """The header lines (up to the first empty line) and what follows."""
    if raw.startswith((b"\r\n", b"\n")):
        return [], raw[2:] if raw.startswith(b"\r\n") else raw[1:]
    blank = _BLANK_LINE.search(raw)
    if blank is None:
        return raw.decode("latin-1").splitlines(), b""
    return raw[: blank.start()].decode("latin-1").splitlines(), raw[blank.end() :]


def _fields(lines: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (name.strip(), value.strip()) for name, colon, value in (x.partition(":") for x in lines) if colon
    ]


def _headers_and_body(raw: bytes) -> tuple[dict[str, str], bytes]:
    lines, body = _head_and_body(raw)
    return {name.lower(): value for name, value in _fields(lines)}, body


def _http_response(raw: bytes, n: int) -> Answer:
    lines, content = _head_and_body(raw)
    status_line = lines[0].split(" ", 2) if lines else []
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or not status_line[1].isdigit():
        raise BatchAnswerError(f"answer {n} has no HTTP status line")
    return Answer(int(status_line[1]), tuple(_fields(lines[1:])), content)
