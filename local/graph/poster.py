"""The notifier's HTTP client: JSON POSTs to notification endpoints over kept-alive HTTP/1.1
connections on asyncio streams.

Why not httpx, as everywhere else: the notifier POSTs ~1,600 changeNotificationCollections in a
1,000-store first provisioning, and through httpx (its client, httpcore's pool, anyio, h11) a
POST cost ~1.2 ms of CPU here against ~0.1 ms on streams (3,000 POSTs of 12 notifications to a
local endpoint, 8 at once). That CPU is Graph's in Azure, not the app's, but here the sandbox
shares the machine's two cores with the app it measures (the bench's first provisioning is
CPU-bound). What goes on the wire is the same request either way; the subscription handshake,
sent once per subscription, stays on httpx.

The client side of HTTP/1.1 (RFC 9112) that an endpoint may ask of it: a response with a
Content-Length, a chunked body (§7.1, extensions and trailers skipped), or a body to the end of
the connection (§6.3: then the connection is not used again); interim 1xx responses before the
final one; HTTP/1.0 answers, which close the connection unless they say keep-alive; `Connection:
close`. A kept-alive connection the endpoint closed while idle (a server's keep-alive timeout)
is found at checkout, or by a reset or an end of stream before any byte of the answer, and the
POST goes once more on a new connection -- not a failed delivery. (RFC 9112 §9.3.1 lets a client
retry a non-idempotent request it knows to be safe to repeat; a notification may arrive twice
anyway, and the notifier itself retries a failed delivery.) Anything else (refused,
reset, timeout, a malformed answer) raises `PostError`, and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import quote, urlsplit

_MAX_HEADERS = 100  # header lines in one answer, beyond which it is refused as malformed
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"  # RFC 3986 pchar and "/", and "%" (already encoded)
_QUERY_SAFE = _PATH_SAFE + "?"
_MAX_IDLE = 64  # kept-alive connections per endpoint (the notifier has at most 8 POSTs in flight)

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PostError(Exception):
    """The POST got no HTTP answer: connection refused or reset, timeout, malformed answer."""


class _Closed(Exception):
    """The connection ended before any byte of the answer."""


class Poster:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: how an https endpoint's certificate is checked; by default against the system's
        trust store, host name included: Graph delivers only to an endpoint with a publicly
        trusted certificate (a self-signed one is refused:
        microsoftgraph/microsoft-graph-docs#11943). Tests pass a context that trusts their CA."""
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._tls = tls
        self.connections = 0  # connections opened (tests read it)

    async def post_json(self, url: str, body: bytes, within_s: float) -> int:
        """The status code of POSTing `body` (application/json) to `url`, within `within_s`
        seconds from connecting to the end of the answer; raises PostError."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PostError(f"not an http(s) URL: {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            # Percent-encoded as httpx sends it (a space or a non-ASCII character in the URL).
            target = quote(parts.path or "/", safe=_PATH_SAFE) + (
                f"?{quote(parts.query, safe=_QUERY_SAFE)}" if parts.query else ""
            )
            head = (
                f"POST {target} HTTP/1.1\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("ascii")
        except (ValueError, UnicodeEncodeError) as exc:
            raise PostError(f"not a URL to POST to: {url!r} ({exc})") from exc
        key = (parts.scheme, parts.hostname, port)
        try:
            async with asyncio.timeout(within_s):
                while True:
                    conn = self._checkout(key)
                    reused = conn is not None
                    if conn is None:
                        conn = await self._connect(key)
                    try:
                        status, keep = await _exchange(conn, head + body)
                    except _Closed:
                        conn[1].close()
                        if reused:
                            continue  # closed by the endpoint while idle: once more, new connection
                        raise PostError("the connection closed before an answer") from None
                    except BaseException:
                        conn[1].close()
                        raise
                    if keep:
                        self._checkin(key, conn)
                    else:
                        conn[1].close()
                    return status
        except TimeoutError as exc:
            raise PostError(f"no answer within {within_s} s") from exc
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            raise PostError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for _, writer in conns:
            writer.close()
        for _, writer in conns:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _checkout(self, key: tuple[str, str, int]) -> _Conn | None:
        idle = self._idle.get(key)
        while idle:
            reader, writer = idle.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            return reader, writer
        return None

    def _checkin(self, key: tuple[str, str, int], conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < _MAX_IDLE:
            idle.append(conn)
        else:
            conn[1].close()

    async def _connect(self, key: tuple[str, str, int]) -> _Conn:
        scheme, host, port = key
        tls = None
        if scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        conn = await asyncio.open_connection(host, port, ssl=tls)
        self.connections += 1
        return conn


async def _exchange(conn: _Conn, request: bytes) -> tuple[int, bool]:
    """Send `request`, read the final answer through; (status, the connection can be reused)."""
    reader, writer = conn
    try:
        writer.write(request)
        await writer.drain()
        line = await reader.readline()
    except ConnectionError:  # reset or broken pipe: the endpoint had closed it
        raise _Closed from None
    if not line:
        raise _Closed
    while True:
        version, _, rest = line.rstrip(b"\r\n").partition(b" ")
        code = rest[:3]
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise PostError(f"not an HTTP status line: {line[:80]!r}")
        status = int(code)
        length, chunked, connection = await _headers(reader)
        if not 100 <= status < 200:
            break
        line = await reader.readline()  # interim (100 Continue, 103 Early Hints): the final follows
        if not line:
            raise PostError("the connection closed inside the answer")
    keep = "close" not in connection if version == b"HTTP/1.1" else "keep-alive" in connection
    if status in (204, 304):
        return status, keep
    if chunked:
        await _chunks(reader)
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # to the end of the connection (RFC 9112 §6.3, item 8)
        keep = False
    return status, keep


async def _headers(reader: asyncio.StreamReader) -> tuple[int | None, bool, str]:
    """(Content-Length, chunked, Connection value in lower case) of an answer's header lines."""
    length: int | None = None
    chunked = False
    connection = ""
    for _ in range(_MAX_HEADERS):
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            return length, chunked, connection
        if not line:
            raise PostError("the connection closed inside the answer's headers")
        name, colon, value = line.partition(b":")
        if not colon:
            raise PostError(f"not a header line: {line[:80]!r}")
        name = name.strip().lower()
        if name == b"content-length":
            text = value.strip()
            if not text.isdigit() or (length is not None and int(text) != length):
                raise PostError(f"bad Content-Length: {text[:40]!r}")
            length = int(text)
        elif name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif name == b"connection":
            connection += value.decode("latin-1").lower()
    raise PostError(f"more than {_MAX_HEADERS} header lines")


async def _chunks(reader: asyncio.StreamReader) -> None:
    while True:
        size_line = await reader.readline()
        size = size_line.split(b";", 1)[0].strip()
        try:
            n = int(size, 16)
        except ValueError:
            raise PostError(f"bad chunk size: {size_line[:40]!r}") from None
        if n == 0:
            break
        await reader.readexactly(n + 2)  # the chunk and its CRLF
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # trailer fields
