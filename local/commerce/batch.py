"""OData `$batch` for the Commerce sandbox: `POST /data/$batch`, multipart/mixed, as F&O documents it.

What Microsoft documents for finance and operations:
- "Batch requests are supported in the OData service", pointing at the OData 4.0 protocol's batch
  section (https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/odata#batch-requests
  -> https://docs.oasis-open.org/odata/odata/v4.0/errata02/os/complete/part1-protocol/odata-v4.0-errata02-os-part1-protocol-complete.html#_Toc406398359).
  OData 4.0 batches are multipart/mixed only (the JSON batch format came with OData 4.01, which F&O
  does not document), so a JSON batch is refused here [F&O's answer to one unconfirmed].
- Change sets are atomic: "either all the requests are run successfully or, if any request fails,
  none of the requests are run successfully" (same page, "Run multiple requests in a single
  transaction").
- "A batch can contain up to 5000 operations"
  (https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/service-protection-api-limits,
  "Number of requests"); the status F&O answers past it is unconfirmed (400 here).

From OData 4.0 §11.7 (F&O's behaviour for each is unconfirmed where it has no page of its own):
- A batch whose headers or envelope are invalid gets a 4xx and no operation is performed: the
  whole body is parsed before anything runs, and every malformed batch is a 400 here.
- Each part is "evaluated according to the same semantics used when the request appears outside
  the context of a batch": here it goes through the same handler as a request sent alone (the
  outer request's token stands for the parts; `refuse` faults, validation, errors and the
  request counters apply per part; injected throttling/errors answer the `$batch` as a whole).
  A part's query string is held to IIS's 2,048 characters like a request alone's (IIS sees only
  the outer URL and F&O publishes no limit for a part: a 400 of the sandbox's own, so it is at
  least as strict as either reading; local/commerce/server.py `part_answer`).
- Parts run in order; a change set's answer is a multipart/mixed of its parts' answers with their
  Content-ID, a failed change set's answer is one application/http response.
- Without `Prefer: odata.continue-on-error` the service stops at the first failing part and
  answers nothing for the parts after it (§8.2.8.3). Whether F&O honours the preference is
  unconfirmed (ASP.NET OData only does when the service enables it:
  https://learn.microsoft.com/odata/webapi/continue-on-error), so the sandbox always stops: a part
  after a failure is never applied and the client must send it again.

Stricter than OData 4.0, on purpose [ours]: a write outside a change set, and a change set of more
than one request, are refused (the sandbox does not roll several writes back together); MIME
delimiter lines must end with CRLF (RFC 2046); a part's request needs its blank line after the
headers. The app sends one create per change set, which both readings of F&O accept.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from local.commerce.model import SandboxError

MAX_OPERATIONS = 5000  # F&O's documented most per batch (see above)
SERVICE_ROOT = "/data/"
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_WRITES = _METHODS - {"GET"}

Answer = Callable[[Request, str], Awaitable[Response]]


@dataclass(frozen=True)
class Part:
    """One request inside the batch, resolved against the service root."""

    method: str
    path: str  # below /data/, percent-decoded, e.g. "RetailTeamsSourceTeamMappings"
    query: str  # as sent, percent-encoded
    headers: tuple[tuple[str, str], ...]
    body: bytes
    content_id: str | None


@dataclass(frozen=True)
class ChangeSet:
    parts: tuple[Part, ...]


def _refuse(message: str) -> SandboxError:
    return SandboxError(400, f"The batch request is malformed: {message}")


class _Registry(HeaderRegistry):
    """`HeaderRegistry` as `policy.HTTP` has it, with its work kept: the stock one builds a new
    class (`type(...)`) for every header it parses, and parses a header again at every look
    (a part's Content-Type about seven times: content type, boundary, multipart or not, ...) --
    two thirds of the Commerce sandbox's CPU for a batch of creates. Here a name's class is made
    once and the last `CACHED` headers are parsed once. Header objects are immutable (`str`
    with a parse tree) and their parse depends on name and value alone, so the parser accepts
    and refuses exactly what it did (tests/fuzz/test_fuzz_commerce_batch_parser.py compares the two)."""

    CACHED = 4096

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name, value)
        parsed = self._parsed.get(key)
        if parsed is None:
            if len(self._parsed) >= self.CACHED:
                self._parsed.clear()
            parsed = self._parsed[key] = self[name](name, value)
        return parsed


_POLICY = policy.HTTP.clone(header_factory=_Registry())


def _envelope(content_type: str, body: bytes) -> Message:
    msg = BytesParser(policy=_POLICY).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
    )
    if msg.get_content_type() != "multipart/mixed":
        raise _refuse(
            f"its Content-Type is '{content_type or '(none)'}', not multipart/mixed with a boundary "
            "(OData 4.0 batches are multipart/mixed; a JSON batch is OData 4.01)."
        )
    return msg


def _check_delimiters(body: bytes, boundary: str) -> None:
    """Refuse a delimiter line preceded by a bare LF. Each occurrence of the delimiter is found as
    a literal (bytes.find) and the two bytes before it looked at: the pattern
    `(?<!\r)\n--boundary` it replaced scanned the whole body at ~0.27 ms a change set, and a
    50-create batch checks 51 delimiters (~27 of its ~31 ms to parse)."""
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    at = body.find(delimiter)
    while at != -1:
        if at >= 1 and body[at - 1] == 0x0A and (at < 2 or body[at - 2] != 0x0D):
            raise _refuse(f"a line before the delimiter '--{boundary}' does not end with CRLF (RFC 2046).")
        at = body.find(delimiter, at + 1)


def _defects(msg: Message, where: str) -> None:
    if msg.defects:
        names = ", ".join(type(d).__name__ for d in msg.defects)
        raise _refuse(f"{where} is not a well-formed multipart body ({names}).")


def parse(content_type: str, body: bytes, host: str) -> list[Part | ChangeSet]:
    """The batch's items in order; raises SandboxError(400) for anything malformed, before any
    part runs (a malformed batch performs no operation)."""
    msg = _envelope(content_type, body)
    boundary = msg.get_boundary()
    if not boundary:
        raise _refuse("its Content-Type has no boundary.")
    _check_delimiters(body, boundary)
    _defects(msg, "the batch")
    if not msg.is_multipart() or not msg.get_payload():
        raise _refuse("it holds no request.")
    items: list[Part | ChangeSet] = []
    content_ids: set[str] = set()
    for n, mime in enumerate(msg.get_payload(), start=1):
        assert isinstance(mime, Message)
        _defects(mime, f"part {n}")
        if mime.get_content_type() == "multipart/mixed":
            items.append(_change_set(mime, n, body, host, content_ids))
            continue
        part = _request(mime, f"part {n}", host)
        if part.method in _WRITES:
            raise _refuse(
                f"part {n} is a {part.method} outside a change set (the sandbox takes writes only in "
                "change sets)."
            )
        items.append(part)
    operations = sum(len(i.parts) if isinstance(i, ChangeSet) else 1 for i in items)
    if operations > MAX_OPERATIONS:
        raise _refuse(f"it holds {operations} operations; a batch can contain up to {MAX_OPERATIONS}.")
    return items


def _change_set(mime: Message, n: int, body: bytes, host: str, content_ids: set[str]) -> ChangeSet:
    boundary = mime.get_boundary()
    if not boundary:
        raise _refuse(f"the change set in part {n} has no boundary.")
    _check_delimiters(body, boundary)
    inner = mime.get_payload()
    if not isinstance(inner, list) or not inner:
        raise _refuse(f"the change set in part {n} holds no request.")
    parts: list[Part] = []
    for m, sub in enumerate(inner, start=1):
        assert isinstance(sub, Message)
        where = f"request {m} of the change set in part {n}"
        _defects(sub, where)
        if sub.get_content_type() == "multipart/mixed":
            raise _refuse(f"{where} is a change set: change sets cannot be nested.")
        part = _request(sub, where, host)
        if part.method not in _WRITES:
            raise _refuse(f"{where} is a {part.method}: a change set holds only data modification requests.")
        if not part.content_id:
            raise _refuse(f"{where} has no Content-ID header.")
        if part.content_id in content_ids:
            raise _refuse(f"the Content-ID '{part.content_id}' of {where} is used twice.")
        content_ids.add(part.content_id)
        parts.append(part)
    if len(parts) > 1:
        raise _refuse(
            f"the change set in part {n} holds {len(parts)} requests; the sandbox takes one request per "
            "change set (it does not roll several writes back together)."
        )
    return ChangeSet(tuple(parts))


def _request(mime: Message, where: str, host: str) -> Part:
    if mime.get_content_type() != "application/http":
        raise _refuse(f"{where} has Content-Type '{mime.get_content_type()}', not application/http.")
    if str(mime.get("Content-Transfer-Encoding", "")).strip().lower() != "binary":
        raise _refuse(f"{where} lacks 'Content-Transfer-Encoding: binary'.")
    raw = mime.get_payload(decode=True)
    if not isinstance(raw, bytes):
        raise _refuse(f"{where} holds no HTTP request.")
    head, blank, content = raw.partition(b"\r\n\r\n")
    if not blank:
        raise _refuse(f"{where}: the HTTP request's headers do not end with an empty line.")
    lines = head.decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    if len(request_line) != 3 or request_line[2] != "HTTP/1.1" or request_line[0] not in _METHODS:
        raise _refuse(f"{where}: '{lines[0]}' is not a request line ('METHOD URL HTTP/1.1').")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _refuse(f"{where}: '{line}' is not a header line.")
        headers.append((name.strip(), value.strip()))
    method, target = request_line[0], request_line[1]
    path, query = _resolve(target, where, host)
    content_id = mime.get("Content-ID")
    return Part(method, path, query, tuple(headers), content, str(content_id).strip() if content_id else None)


def _resolve(target: str, where: str, host: str) -> tuple[str, str]:
    """The request's path below the service root and its query: an absolute URL on this host, an
    absolute path, or a path relative to the batch's URL (OData 4.0 §11.7.2)."""
    url = urlsplit(target)
    if url.scheme or url.netloc:
        if url.scheme not in ("http", "https") or url.netloc.lower() != host.lower():
            raise _refuse(f"{where}: '{target}' is not under this service root.")
    path = url.path if url.path.startswith("/") else SERVICE_ROOT + url.path
    if not path.startswith(SERVICE_ROOT):
        raise _refuse(f"{where}: '{target}' is not under the service root {SERVICE_ROOT}.")
    below = unquote(path[len(SERVICE_ROOT) :])
    if not below or below.split("(")[0].strip("/") == "$batch":
        raise _refuse(f"{where}: '{target}' is not an entity request (a batch cannot hold a batch).")
    return below, url.query


def part_request(outer: Request, part: Part) -> Request:
    """A request of its own for `part`, on the outer request's connection (same host and scheme,
    so Location headers and next links name the same service root)."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in part.headers]
    if not any(k == b"host" for k, _ in headers):
        headers.append((b"host", outer.headers.get("host", "").encode("latin-1")))
    path = SERVICE_ROOT + part.path
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": part.method,
        "scheme": outer.url.scheme,
        "server": outer.scope.get("server"),
        "client": outer.scope.get("client"),
        "root_path": outer.scope.get("root_path", ""),
        "path": path,
        "raw_path": path.encode("utf-8"),
        "query_string": part.query.encode("latin-1"),
        "headers": headers,
        "path_params": {"path": part.path},
        "app": outer.scope.get("app"),
    }
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": part.body, "more_body": False}

    return Request(scope, receive)


async def run(outer: Request, answer: Answer) -> Response:
    """Parse the batch (400 if malformed, nothing run), run its items in order through `answer`,
    stop at the first failure, and answer 200 with one response part per item run."""
    items = parse(outer.headers.get("content-type", ""), await outer.body(), outer.headers.get("host", ""))
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[bytes] = []
    for item in items:
        if isinstance(item, ChangeSet):
            [part] = item.parts
            response = await answer(part_request(outer, part), part.path)
            if response.status_code >= 400:  # the change set failed: one response stands for it
                chunks.append(_http_part(response, None))
                break
            inner = f"changesetresponse_{uuid.uuid4()}"
            chunks.append(
                f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode()
                + _multipart([_http_part(response, part.content_id)], inner)
            )
            continue
        response = await answer(part_request(outer, item), item.path)
        chunks.append(_http_part(response, None))
        if response.status_code >= 400:
            break
    return Response(
        _multipart(chunks, boundary),
        status_code=200,
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", "OData-Version": "4.0"},
    )


def _http_part(response: Response, content_id: str | None) -> bytes:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        head += f"Content-ID: {content_id}\r\n"
    status = response.status_code
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"] + [
        f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in response.raw_headers
    ]
    return (head + "\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + bytes(response.body)


def _multipart(chunks: list[bytes], boundary: str) -> bytes:
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(delimiter + c + b"\r\n" for c in chunks) + f"--{boundary}--\r\n".encode()
